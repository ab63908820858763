//! Reading the shipped WAV files (RIFF PCM 16-bit, mono or stereo) into memory at start.

use std::path::Path;

/// Decoded audio: mono samples and their rate.
#[derive(Clone, Debug, PartialEq)]
pub struct Pcm {
    /// Mono samples (stereo is averaged).
    pub samples: Vec<i16>,
    /// Sample rate in Hz.
    pub rate: u32,
}

/// Reads a 16-bit PCM WAV file.
pub fn read(path: &Path) -> Result<Pcm, String> {
    let data = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    parse(&data).map_err(|e| format!("{}: {e}", path.display()))
}

/// Parses a 16-bit PCM WAV image.
pub fn parse(data: &[u8]) -> Result<Pcm, String> {
    if data.len() < 12 || &data[..4] != b"RIFF" || &data[8..12] != b"WAVE" {
        return Err("not a RIFF/WAVE file".into());
    }
    let mut pos = 12;
    let (mut channels, mut rate, mut bits) = (0u16, 0u32, 0u16);
    while pos + 8 <= data.len() {
        let id = &data[pos..pos + 4];
        let len = u32::from_le_bytes([data[pos + 4], data[pos + 5], data[pos + 6], data[pos + 7]])
            as usize;
        let body = data.get(pos + 8..pos + 8 + len).ok_or("truncated chunk")?;
        match id {
            b"fmt " if body.len() >= 16 => {
                let format = u16::from_le_bytes([body[0], body[1]]);
                if format != 1 && format != 0xFFFE {
                    return Err(format!("WAV format {format} is not PCM"));
                }
                channels = u16::from_le_bytes([body[2], body[3]]);
                rate = u32::from_le_bytes([body[4], body[5], body[6], body[7]]);
                bits = u16::from_le_bytes([body[14], body[15]]);
            }
            b"data" => {
                if bits != 16 || channels == 0 || rate == 0 {
                    return Err(format!(
                        "need 16-bit PCM, got {bits}-bit, {channels} channels"
                    ));
                }
                let frame = 2 * channels as usize;
                let samples = body
                    .chunks_exact(frame)
                    .map(|f| {
                        let sum: i32 = f
                            .chunks_exact(2)
                            .map(|s| i32::from(i16::from_le_bytes([s[0], s[1]])))
                            .sum();
                        (sum / i32::from(channels)) as i16
                    })
                    .collect();
                return Ok(Pcm { samples, rate });
            }
            _ => {}
        }
        pos += 8 + len + (len & 1);
    }
    Err("no data chunk".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wav(channels: u16, rate: u32, samples: &[i16]) -> Vec<u8> {
        let mut d = Vec::new();
        let data_len = (samples.len() * 2) as u32;
        d.extend_from_slice(b"RIFF");
        d.extend_from_slice(&(36 + data_len).to_le_bytes());
        d.extend_from_slice(b"WAVEfmt ");
        d.extend_from_slice(&16u32.to_le_bytes());
        d.extend_from_slice(&1u16.to_le_bytes());
        d.extend_from_slice(&channels.to_le_bytes());
        d.extend_from_slice(&rate.to_le_bytes());
        d.extend_from_slice(&(rate * 2 * u32::from(channels)).to_le_bytes());
        d.extend_from_slice(&(2 * channels).to_le_bytes());
        d.extend_from_slice(&16u16.to_le_bytes());
        d.extend_from_slice(b"data");
        d.extend_from_slice(&data_len.to_le_bytes());
        for s in samples {
            d.extend_from_slice(&s.to_le_bytes());
        }
        d
    }

    #[test]
    fn mono_and_stereo_pcm_parse_and_garbage_does_not() {
        assert_eq!(
            parse(&wav(1, 8000, &[1, -2, 3])).unwrap(),
            Pcm {
                samples: vec![1, -2, 3],
                rate: 8000
            }
        );
        assert_eq!(
            parse(&wav(2, 16000, &[10, 20, -4, -6])).unwrap().samples,
            vec![15, -5]
        );
        assert!(parse(b"RIFF\0\0\0\0WAVE").is_err());
        assert!(parse(b"garbage").is_err());
    }

    #[test]
    fn shipped_music_on_hold_loads() {
        let p = read(&Path::new(env!("CARGO_MANIFEST_DIR")).join("sounds/moh.wav")).unwrap();
        assert_eq!(p.rate, 16_000);
        assert!(p.samples.len() > 10 * 16_000);
        assert!(
            p.samples.iter().any(|s| s.unsigned_abs() > 1000),
            "not silent"
        );
    }
}
