#!/usr/bin/env bash
# Regenerates the shipped audio reproducibly from nothing but Debian's espeak-ng and sox (no
# samples, no recordings): every file here is synthesised. See README.md for provenance.
#   apt-get install -y espeak-ng sox && bash sounds/generate.sh
# Outputs: moh.wav, and for every row of prompts.tsv sounds/en/NAME.wav and sounds/ru/NAME.wav,
# all 16 kHz mono 16-bit PCM. Running it twice gives byte-identical files.
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

# Voice prompts from the catalogue prompts.tsv (name TAB English TAB Russian; '#' comments).
# espeak-ng speaks the text at its native 22.05 kHz; sox trims the leading and trailing silence
# (below -45 dBFS), converts to 16 kHz mono 16-bit and normalises the peak to -3 dBFS.
# A text "@beep" is the voicemail tone: 1 kHz sine, 0.5 s, soft 10 ms edges, -6 dBFS.
declare -A voice=([en]=en [ru]=ru)   # espeak-ng voices: gmw/en (British English), zle/ru
speed=150                            # words per minute: a little slower than the default 175
# What espeak-ng is given instead of the catalogue text, where its reading is poor: a lone
# Russian "и" comes out as a 40 ms blip, so it gets a long stressed [i:] in espeak phonemes.
declare -A say_as=([ru/and]="[['i:]]")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for lang in en ru; do
  rm -rf "$lang"
  mkdir -p "$lang"
done
count=0
while IFS=$'\t' read -r name en ru rest; do
  [[ -z "$name" || "$name" == \#* ]] && continue
  if [[ -z "$en" || -z "$ru" || -n "$rest" || ! "$name" =~ ^[a-z0-9-]+$ ]]; then
    echo "prompts.tsv: bad row for '$name' (need name, en, ru)" >&2
    exit 1
  fi
  for lang in en ru; do
    if [[ "$lang" == en ]]; then text=$en; else text=$ru; fi
    out="$lang/$name.wav"
    case "$text" in
      @beep)
        sox -R -q -n -r $rate -c 1 -b 16 "$out" synth 0.5 sine 1000 fade q 0.01 0.5 0.01 gain -6 ;;
      @*)
        echo "prompts.tsv: unknown directive '$text' for '$name'" >&2
        exit 1 ;;
      *)
        espeak-ng -b 1 -v "${voice[$lang]}" -s $speed -w "$tmp/say.wav" -- "${say_as[$lang/$name]:-$text}"
        sox -R -q "$tmp/say.wav" -r $rate -c 1 -b 16 "$out" \
            silence 1 0.005 -45d reverse silence 1 0.005 -45d reverse norm -3 ;;
    esac
  done
  count=$((count + 1))
done < prompts.tsv
echo "wrote $count prompts in en/ and ru/ ($(du -ch en ru | tail -1 | cut -f1))"
