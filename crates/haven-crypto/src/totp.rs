//! Time-based one-time passwords (RFC 6238 TOTP over RFC 4226 HOTP) with the parameters every authenticator app
//! assumes: HMAC-SHA1, 6 digits, 30-second steps. Also `otpauth://` enrolment URIs, their QR codes, and
//! single-use recovery codes.
//!
//! Replay protection is the caller's: [`verify`] returns the matched time step, the caller stores it, and passes
//! it back as `last_used_step` so the same code (or an older one) is refused.

use haven_core::Secret;
use ring::hmac;
use zeroize::Zeroize;

use crate::CryptoError;

/// Seconds per TOTP time step (RFC 6238 default).
pub const STEP_SECS: i64 = 30;
/// Digits in a code.
pub const DIGITS: usize = 6;
/// Bytes in a generated secret: 160 bits, the HMAC-SHA1 output size RFC 4226 recommends.
pub const SECRET_LEN: usize = 20;
/// Steps either side of the current one that [`verify`] accepts, for clock drift and typing time.
pub const DRIFT_STEPS: i64 = 1;

const MODULUS: u32 = 1_000_000;
const BASE32_ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
/// Crockford's base32 digits: no I, L, O or U, so codes cannot be misread as 1, 0 or V.
const RECOVERY_ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// What went wrong with a TOTP code, secret or enrolment QR code. Messages never carry the code or the secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TotpError {
    /// The code is not exactly six ASCII digits (spaces aside).
    #[error("a one-time code must be exactly 6 digits")]
    Malformed,
    /// The code matches none of the accepted time steps.
    #[error("the one-time code is wrong or has expired")]
    Invalid,
    /// The code is right but its time step was already used.
    #[error("the one-time code was already used")]
    Replayed,
    /// The secret is not valid base32.
    #[error("the TOTP secret is not valid base32")]
    BadSecret,
    /// The QR code could not be built (e.g. the data is too long).
    #[error("QR code: {0}")]
    Qr(String),
}

/// A TOTP shared secret: wiped on drop, never printed.
#[derive(Clone)]
pub struct TotpSecret(Secret<Vec<u8>>);

impl TotpSecret {
    /// A fresh random 160-bit secret.
    pub fn generate() -> Result<Self, CryptoError> {
        let mut buf = vec![0u8; SECRET_LEN];
        crate::random_bytes(&mut buf)?;
        Ok(TotpSecret(Secret::new(buf)))
    }

    /// Takes ownership of raw secret bytes (e.g. decrypted from storage).
    pub fn from_bytes(b: Vec<u8>) -> Self {
        TotpSecret(Secret::new(b))
    }

    /// Borrows the raw secret bytes.
    pub fn expose(&self) -> &[u8] {
        self.0.expose()
    }

    /// The secret as RFC 4648 base32, upper case, without padding: what authenticator apps accept.
    pub fn to_base32(&self) -> Secret<String> {
        let bytes = self.expose();
        // Sized up front so the string never reallocates and leaves a stray copy of the secret in freed memory.
        let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
        let mut acc: u64 = 0;
        let mut bits = 0u32;
        for &b in bytes {
            acc = (acc << 8) | u64::from(b);
            bits += 8;
            while bits >= 5 {
                bits -= 5;
                out.push(char::from(BASE32_ALPHABET[((acc >> bits) & 0x1f) as usize]));
            }
        }
        if bits > 0 {
            out.push(char::from(BASE32_ALPHABET[((acc << (5 - bits)) & 0x1f) as usize]));
        }
        acc.zeroize();
        Secret::new(out)
    }

    /// Parses base32 as typed or pasted by a person: case, spaces, dashes and `=` padding are ignored.
    pub fn from_base32(s: &str) -> Result<Self, TotpError> {
        let mut out = Vec::with_capacity(s.len() * 5 / 8 + 1);
        let mut acc: u64 = 0;
        let mut bits = 0u32;
        let mut chars = 0usize;
        let mut padding = false;
        let mut bad = false;
        for c in s.chars() {
            if c.is_whitespace() || c == '-' {
                continue;
            }
            if c == '=' {
                padding = true;
                continue;
            }
            let Some(v) = base32_value(c) else {
                bad = true;
                break;
            };
            if padding {
                // Data after padding is not base32.
                bad = true;
                break;
            }
            acc = (acc << 5) | u64::from(v);
            bits += 5;
            chars += 1;
            if bits >= 8 {
                bits -= 8;
                out.push(((acc >> bits) & 0xff) as u8);
            }
        }
        acc.zeroize();
        // 1, 3 or 6 characters past a multiple of 8 cannot come from any byte string (RFC 4648 §6).
        if bad || out.is_empty() || matches!(chars % 8, 1 | 3 | 6) {
            out.zeroize();
            return Err(TotpError::BadSecret);
        }
        Ok(TotpSecret(Secret::new(out)))
    }
}

impl std::fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TotpSecret([REDACTED])")
    }
}

fn base32_value(c: char) -> Option<u8> {
    match c {
        'A'..='Z' => Some(c as u8 - b'A'),
        'a'..='z' => Some(c as u8 - b'a'),
        '2'..='7' => Some(c as u8 - b'2' + 26),
        _ => None,
    }
}

/// RFC 4226 HOTP with dynamic truncation, reduced to six digits.
fn hotp(key: &hmac::Key, counter: u64) -> u32 {
    let tag = hmac::sign(key, &counter.to_be_bytes());
    let h = tag.as_ref();
    // SHA-1 tags are 20 bytes and the offset is at most 15, so offset + 3 is always in bounds; `get` keeps the
    // indexing panic-free regardless.
    let offset = usize::from(h.last().copied().unwrap_or(0) & 0x0f);
    let mut word = [0u8; 4];
    if let Some(s) = h.get(offset..offset + 4) {
        word.copy_from_slice(s);
    }
    (u32::from_be_bytes(word) & 0x7fff_ffff) % MODULUS
}

fn hmac_key(secret: &TotpSecret) -> hmac::Key {
    // SHA-1 is what RFC 6238 apps implement; HMAC-SHA1 is not affected by SHA-1's collision weakness.
    hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, secret.expose())
}

/// The TOTP time step containing `unix_secs`: floor(unix_secs / 30).
pub fn step_of(unix_secs: i64) -> i64 {
    unix_secs.div_euclid(STEP_SECS)
}

/// The counter RFC 6238 feeds HOTP; steps before 1970 wrap around, which no real clock produces.
fn counter(step: i64) -> u64 {
    step as u64
}

/// The 6-digit code (0..1_000_000) for the step containing `unix_secs`.
pub fn code_at(secret: &TotpSecret, unix_secs: i64) -> u32 {
    hotp(&hmac_key(secret), counter(step_of(unix_secs)))
}

/// The six ASCII digits of `code`, zero-padded.
fn digits(mut code: u32) -> [u8; DIGITS] {
    let mut out = [b'0'; DIGITS];
    for d in out.iter_mut().rev() {
        *d = b'0' + (code % 10) as u8;
        code /= 10;
    }
    out
}

/// Parses what a user typed: exactly six ASCII digits once whitespace is removed.
fn parse_code(code: &str) -> Result<[u8; DIGITS], TotpError> {
    let mut out = [0u8; DIGITS];
    let mut n = 0usize;
    for c in code.chars() {
        if c.is_whitespace() {
            continue;
        }
        if !c.is_ascii_digit() || n == DIGITS {
            return Err(TotpError::Malformed);
        }
        out[n] = c as u8;
        n += 1;
    }
    if n == DIGITS { Ok(out) } else { Err(TotpError::Malformed) }
}

/// Compares without an early exit, so the time taken does not reveal how many leading digits were right.
fn ct_eq(a: &[u8; DIGITS], b: &[u8; DIGITS]) -> bool {
    let diff = a.iter().zip(b.iter()).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

/// Verifies a user-typed code with ±1 step of drift. Returns the matched step so the caller can store it and
/// refuse reuse: a code is valid only if its step is > `last_used_step`.
pub fn verify(secret: &TotpSecret, code: &str, unix_secs: i64, last_used_step: Option<i64>) -> Result<i64, TotpError> {
    let typed = parse_code(code)?;
    let key = hmac_key(secret);
    let now = step_of(unix_secs);
    let mut fresh: Option<i64> = None;
    let mut stale = false;
    // Every candidate step is computed and compared, match or not, so timing says nothing about which matched.
    for delta in -DRIFT_STEPS..=DRIFT_STEPS {
        let step = now.saturating_add(delta);
        let expected = digits(hotp(&key, counter(step)));
        if ct_eq(&typed, &expected) {
            if last_used_step.is_some_and(|last| step <= last) {
                stale = true;
            } else if fresh.is_none() {
                // The earliest fresh step is kept so that a chance match does not burn later steps' codes.
                fresh = Some(step);
            }
        }
    }
    match (fresh, stale) {
        (Some(step), _) => Ok(step),
        (None, true) => Err(TotpError::Replayed),
        (None, false) => Err(TotpError::Invalid),
    }
}

/// Appends `s` percent-encoded: everything but RFC 3986 unreserved characters becomes `%XX` (so a space is `%20`,
/// which authenticator apps decode, unlike `+`).
fn percent_encode_into(out: &mut String, s: &str) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0x0f)]));
        }
    }
}

/// The enrolment URI authenticator apps scan:
/// `otpauth://totp/{issuer}:{account}?secret=…&issuer=…&algorithm=SHA1&digits=6&period=30`.
///
/// It carries the secret, so it is returned as a [`Secret`].
pub fn otpauth_uri(secret: &TotpSecret, issuer: &str, account: &str) -> Secret<String> {
    let b32 = secret.to_base32();
    // Sized up front (worst case: every label byte encoded) so no reallocation leaves a copy of the secret behind.
    let mut uri = String::with_capacity(96 + b32.expose().len() + 6 * issuer.len() + 3 * account.len());
    uri.push_str("otpauth://totp/");
    percent_encode_into(&mut uri, issuer);
    uri.push(':');
    percent_encode_into(&mut uri, account);
    uri.push_str("?secret=");
    uri.push_str(b32.expose());
    uri.push_str("&issuer=");
    percent_encode_into(&mut uri, issuer);
    uri.push_str("&algorithm=SHA1&digits=6&period=30");
    Secret::new(uri)
}

/// An SVG image of a QR code of `data` (typically an [`otpauth_uri`]).
///
/// The image encodes `data`, so for an enrolment URI it is as sensitive as the TOTP secret: send it once, over
/// TLS, with `Cache-Control: no-store`, and never log it.
pub fn qr_svg(data: &str) -> Result<String, TotpError> {
    use qrcode::render::svg;
    // Medium error correction (the crate's default) keeps otpauth URIs at a scannable size.
    let code = qrcode::QrCode::new(data.as_bytes()).map_err(|e| TotpError::Qr(e.to_string()))?;
    Ok(code.render::<svg::Color<'_>>().min_dimensions(200, 200).quiet_zone(true).build())
}

/// Recovery codes: `n` single-use codes like `ABCD-EFGH-JKMN` (Crockford base32 alphabet, without I, L, O, U;
/// 60 bits each), returned once in the clear; store only [`hash_recovery_code`] of each.
pub fn generate_recovery_codes(n: usize) -> Result<Vec<Secret<String>>, CryptoError> {
    let mut codes: Vec<Secret<String>> = Vec::with_capacity(n);
    while codes.len() < n {
        let mut raw = [0u8; 8];
        crate::random_bytes(&mut raw)?;
        let mut bits = u64::from_be_bytes(raw) >> 4;
        raw.zeroize();
        let mut code = String::with_capacity(14);
        for i in 0..12 {
            if i > 0 && i % 4 == 0 {
                code.push('-');
            }
            let v = (bits >> (55 - 5 * i)) & 0x1f;
            code.push(char::from(RECOVERY_ALPHABET[v as usize]));
        }
        bits.zeroize();
        let code = Secret::new(code);
        // A repeat has probability about n²/2⁶¹, but a duplicate would silently be one code, so it is redrawn.
        if !codes.iter().any(|c| c.expose() == code.expose()) {
            codes.push(code);
        }
    }
    Ok(codes)
}

/// The value to store for a recovery code: hex SHA-256 of the code normalised (upper case; spaces and dashes
/// removed; `I`/`L` read as `1` and `O` as `0`, as Crockford base32 does, since generated codes never contain
/// them).
///
/// A fast unsalted hash is enough because a code holds 60 random bits (unlike a password, there is no small
/// dictionary to try) and only stands in for the second factor, not the password. Brute force against one
/// code costs ~2⁵⁹ hashes; note that without a salt an attacker with a dump attacks all stored hashes at once,
/// which divides that by their number.
pub fn hash_recovery_code(code: &str) -> String {
    // Normalising never lengthens the input, so this never reallocates and leaves a stray copy behind.
    let mut buf = String::with_capacity(code.len());
    for c in code.chars() {
        if c.is_whitespace() || c == '-' {
            continue;
        }
        match c.to_ascii_uppercase() {
            'I' | 'L' => buf.push('1'),
            'O' => buf.push('0'),
            u => buf.push(u),
        }
    }
    let norm = Secret::new(buf);
    let digest = crate::sha256(norm.expose().as_bytes());
    let mut hex = String::with_capacity(64);
    for b in digest {
        hex.push(char::from(b"0123456789abcdef"[usize::from(b >> 4)]));
        hex.push(char::from(b"0123456789abcdef"[usize::from(b & 0x0f)]));
    }
    hex
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rfc_secret() -> TotpSecret {
        TotpSecret::from_bytes(b"12345678901234567890".to_vec())
    }

    #[test]
    fn rfc6238_sha1_vectors() {
        // RFC 6238 Appendix B, SHA1 column; six-digit codes are the last six of the eight-digit ones.
        let cases: [(i64, u32); 6] = [
            (59, 94_287_082),
            (1_111_111_109, 7_081_804),
            (1_111_111_111, 14_050_471),
            (1_234_567_890, 89_005_924),
            (2_000_000_000, 69_279_037),
            (20_000_000_000, 65_353_130),
        ];
        let s = rfc_secret();
        for (t, eight) in cases {
            assert_eq!(code_at(&s, t), eight % 1_000_000, "t={t}");
            let typed = format!("{:06}", eight % 1_000_000);
            assert_eq!(verify(&s, &typed, t, None), Ok(step_of(t)), "t={t}");
        }
    }

    #[test]
    fn rfc4226_hotp_vectors() {
        // RFC 4226 Appendix D, counters 0..9.
        let expected = [755_224, 287_082, 359_152, 969_429, 338_314, 254_676, 287_922, 162_583, 399_871, 520_489];
        let key = hmac_key(&rfc_secret());
        for (c, want) in expected.into_iter().enumerate() {
            assert_eq!(hotp(&key, c as u64), want, "counter {c}");
        }
    }

    #[test]
    fn step_is_floor_division() {
        assert_eq!(step_of(0), 0);
        assert_eq!(step_of(29), 0);
        assert_eq!(step_of(30), 1);
        assert_eq!(step_of(59), 1);
        assert_eq!(step_of(-1), -1);
    }

    #[test]
    fn one_step_of_drift_is_accepted_two_are_not() {
        let s = rfc_secret();
        let t = 1_234_567_890;
        let now = step_of(t);
        for delta in [-1i64, 0, 1] {
            let code = format!("{:06}", code_at(&s, t + delta * STEP_SECS));
            assert_eq!(verify(&s, &code, t, None), Ok(now + delta), "delta {delta}");
        }
        for delta in [-2i64, 2, 5] {
            let code = format!("{:06}", code_at(&s, t + delta * STEP_SECS));
            assert_eq!(verify(&s, &code, t, None), Err(TotpError::Invalid), "delta {delta}");
        }
    }

    #[test]
    fn replay_of_a_used_step_is_refused() {
        let s = rfc_secret();
        let t = 1_234_567_890;
        let code = format!("{:06}", code_at(&s, t));
        let used = verify(&s, &code, t, None).unwrap_or(i64::MIN);
        assert_eq!(used, step_of(t));
        assert_eq!(verify(&s, &code, t, Some(used)), Err(TotpError::Replayed));
        assert_eq!(verify(&s, &code, t + 10, Some(used)), Err(TotpError::Replayed));
        // A code from before the last used step is a replay too, even inside the drift window.
        let older = format!("{:06}", code_at(&s, t - STEP_SECS));
        assert_eq!(verify(&s, &older, t, Some(used)), Err(TotpError::Replayed));
        // The next step's code is fresh.
        let next = format!("{:06}", code_at(&s, t + STEP_SECS));
        assert_eq!(verify(&s, &next, t + STEP_SECS, Some(used)), Ok(used + 1));
        // A wrong code stays Invalid, not Replayed.
        let wrong = format!("{:06}", (code_at(&s, t) + 1) % 1_000_000);
        assert_eq!(verify(&s, &wrong, t, Some(used)), Err(TotpError::Invalid));
    }

    #[test]
    fn malformed_codes_are_refused() {
        let s = rfc_secret();
        let t = 1_234_567_890;
        for bad in ["", "12345", "1234567", "12a456", "-12345", "+12345", "12.456", "١٢٣٤٥٦", "１２３４５６", "0x1234"]
        {
            assert_eq!(verify(&s, bad, t, None), Err(TotpError::Malformed), "{bad:?}");
        }
        // Spaces are only formatting.
        let code = format!("{:06}", code_at(&s, t));
        let spaced = format!(" {} {} ", &code[..3], &code[3..]);
        assert_eq!(verify(&s, &spaced, t, None), Ok(step_of(t)));
    }

    #[test]
    fn error_messages_do_not_echo_the_code() {
        let s = rfc_secret();
        let t = 1_234_567_890;
        let code = format!("{:06}", code_at(&s, t));
        let used = step_of(t);
        for (typed, last) in [(code.as_str(), Some(used)), ("987654", None), ("98765x", None)] {
            let err = verify(&s, typed, t, last).err().map(|e| format!("{e} {e:?}")).unwrap_or_default();
            assert!(!err.is_empty());
            assert!(!err.contains(typed), "{err}");
        }
    }

    #[test]
    fn base32_round_trip() {
        let s = rfc_secret();
        let b32 = s.to_base32();
        assert_eq!(b32.expose(), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
        let back = TotpSecret::from_base32(b32.expose()).map(|t| t.expose().to_vec()).unwrap_or_default();
        assert_eq!(back, s.expose());
        // RFC 4648 §10 vectors, unpadded, and lenient parsing of what people paste.
        for (raw, enc) in [("f", "MY"), ("fo", "MZXQ"), ("foo", "MZXW6"), ("foob", "MZXW6YQ"), ("fooba", "MZXW6YTB")] {
            let t = TotpSecret::from_bytes(raw.as_bytes().to_vec());
            assert_eq!(t.to_base32().expose(), enc);
            let back = TotpSecret::from_base32(enc).map(|t| t.expose().to_vec()).unwrap_or_default();
            assert_eq!(back, raw.as_bytes());
        }
        let lenient = TotpSecret::from_base32("mzxw 6ytb-oi======").map(|t| t.expose().to_vec()).unwrap_or_default();
        assert_eq!(lenient, b"foobar");
        for _ in 0..20 {
            let g = TotpSecret::generate().unwrap_or_else(|_| TotpSecret::from_bytes(vec![0; SECRET_LEN]));
            assert_eq!(g.expose().len(), SECRET_LEN);
            assert_eq!(g.to_base32().expose().len(), 32);
            let back = TotpSecret::from_base32(g.to_base32().expose()).map(|t| t.expose().to_vec()).unwrap_or_default();
            assert_eq!(back, g.expose());
        }
    }

    #[test]
    fn bad_base32_is_refused() {
        for bad in ["", "====", "M", "MZX", "MZXW6Y", "MZ1W", "MZXW6YTB!", "MY==MY"] {
            assert_eq!(TotpSecret::from_base32(bad).err(), Some(TotpError::BadSecret), "{bad:?}");
        }
        let err = TotpSecret::from_base32("SUPERSECRET1").err().map(|e| format!("{e} {e:?}")).unwrap_or_default();
        assert!(!err.contains("SUPERSECRET"), "{err}");
    }

    #[test]
    fn otpauth_uri_format_and_redaction() {
        let s = rfc_secret();
        let uri = otpauth_uri(&s, "Haven Clinic", "dr.o'neil@example.org");
        assert_eq!(
            uri.expose(),
            "otpauth://totp/Haven%20Clinic:dr.o%27neil%40example.org?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\
             &issuer=Haven%20Clinic&algorithm=SHA1&digits=6&period=30"
        );
        let amp = otpauth_uri(&s, "A&B:C", "x?y");
        assert!(amp.expose().starts_with("otpauth://totp/A%26B%3AC:x%3Fy?secret="), "{}", amp.expose());
        let shown = format!("{s:?} {uri:?} {:?}", s.to_base32());
        assert!(!shown.contains("GEZDGNBV"), "{shown}");
        assert!(!shown.contains("1234567890"), "{shown}");
        assert!(shown.contains("REDACTED"));
    }

    #[test]
    fn qr_svg_is_small_svg() {
        let s = TotpSecret::generate().unwrap_or_else(|_| rfc_secret());
        let uri = otpauth_uri(&s, "Haven", "someone.with.a.long.name@clinic.example.org");
        let svg = qr_svg(uri.expose()).unwrap_or_default();
        assert!(svg.starts_with("<?xml") || svg.starts_with("<svg"), "{}", &svg[..svg.len().min(60)]);
        assert!(svg.contains("</svg>"));
        assert!(svg.len() < 64 * 1024, "{}", svg.len());
        let too_long = "x".repeat(8000);
        assert!(matches!(qr_svg(&too_long), Err(TotpError::Qr(_))));
    }

    #[test]
    fn recovery_codes_are_unique_and_well_formed() {
        let codes = generate_recovery_codes(10).unwrap_or_default();
        assert_eq!(codes.len(), 10);
        for c in &codes {
            let c = c.expose();
            assert_eq!(c.len(), 14, "{c}");
            for (i, ch) in c.chars().enumerate() {
                if i == 4 || i == 9 {
                    assert_eq!(ch, '-', "{c}");
                } else {
                    assert!(RECOVERY_ALPHABET.contains(&(ch as u8)), "{c}");
                    assert!(!matches!(ch, 'I' | 'L' | 'O' | 'U'), "{c}");
                }
            }
        }
        let mut plain: Vec<&str> = codes.iter().map(|c| c.expose().as_str()).collect();
        plain.sort_unstable();
        plain.dedup();
        assert_eq!(plain.len(), 10);
        assert!(format!("{:?}", codes[0]).contains("REDACTED"));
        assert!(generate_recovery_codes(0).unwrap_or_default().is_empty());
    }

    #[test]
    fn recovery_code_hash_normalises() {
        let h = hash_recovery_code("ABCD-EFGH-JK10");
        assert_eq!(h.len(), 64);
        assert!(h.chars().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        assert_eq!(h, hash_recovery_code("abcd efgh jk10"));
        assert_eq!(h, hash_recovery_code(" ABCDEFGHJK10 "));
        assert_eq!(h, hash_recovery_code("abcd-efgh-jkio"), "I and O read as 1 and 0");
        assert_eq!(h, hash_recovery_code("abcd-efgh-jklo"), "L reads as 1");
        assert_ne!(h, hash_recovery_code("ABCD-EFGH-JK11"));
        // Known value: SHA-256("ABCDEFGHJK10").
        let expected = crate::sha256(b"ABCDEFGHJK10");
        let hex: String = expected.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(h, hex);
        let codes = generate_recovery_codes(3).unwrap_or_default();
        let hashes: Vec<String> = codes.iter().map(|c| hash_recovery_code(c.expose())).collect();
        assert_ne!(hashes[0], hashes[1]);
        assert!(!hashes[0].contains(codes[0].expose().as_str()));
    }

    use proptest::collection::vec;
    use proptest::num::{i64 as any_i64, u8 as any_u8};
    use proptest::option::of;

    proptest::proptest! {
        #[test]
        fn verify_never_panics(code in ".*", t in any_i64::ANY, last in of(any_i64::ANY)) {
            let s = rfc_secret();
            let _ = verify(&s, &code, t, last);
        }

        #[test]
        fn verify_never_panics_on_digit_strings(code in "[0-9 ]{0,12}", t in 0i64..4_000_000_000) {
            let s = rfc_secret();
            let _ = verify(&s, &code, t, Some(step_of(t)));
        }

        #[test]
        fn base32_never_panics_and_round_trips(bytes in vec(any_u8::ANY, 1..64), junk in ".*") {
            let s = TotpSecret::from_bytes(bytes.clone());
            let back = TotpSecret::from_base32(s.to_base32().expose()).map(|t| t.expose().to_vec()).ok();
            proptest::prop_assert_eq!(back, Some(bytes));
            let _ = TotpSecret::from_base32(&junk);
        }
    }
}
