#!/usr/bin/env bash
# Regenerates the shipped audio reproducibly from nothing but Debian's sox (no samples, no
# recordings): every file here is synthesised, so it is free of third-party rights.
#   apt-get install -y sox && bash sounds/generate.sh
set -euo pipefail
cd "$(dirname "$0")"
rate=16000
# Music on hold: a slow, soft I–vi–IV–V progression (C, Am, F, G) of plucked chords, 16 s,
# looped by Zvon. Each chord: three plucked notes, a gentle fade, a little reverb.
tmp=$(mktemp -d)
chord() { # name note1 note2 note3
  sox -R -q -n -r $rate -c 1 -b 16 "$tmp/$1.wav" synth 4 pluck "$2" pluck "$3" pluck "$4" \
      remix - fade q 0.02 4 1.5 gain -12
}
chord c C4 E4 G4
chord am A3 C4 E4
chord f F3 A3 C4
chord g G3 B3 D4
sox -R -q "$tmp/c.wav" "$tmp/am.wav" "$tmp/f.wav" "$tmp/g.wav" -r $rate -c 1 -b 16 moh.wav reverb 30 norm -6
rm -rf "$tmp"
echo "wrote sounds/moh.wav ($(soxi -D moh.wav) s, $(soxi -r moh.wav) Hz)"
