/// The BSN 11-check ("elfproef"): nine digits `d1..d9` are valid when
/// `9*d1 + 8*d2 + ... + 2*d8 - 1*d9` is divisible by 11 and not all digits
/// are zero. Input that is not exactly nine ASCII digits fails.
pub fn bsn_passes_eleven_check(bsn: &str) -> bool {
    let bytes = bsn.as_bytes();
    if bytes.len() != 9 || !bytes.iter().all(u8::is_ascii_digit) {
        return false;
    }
    let mut sum: i64 = 0;
    for (i, b) in bytes.iter().enumerate() {
        let d = i64::from(b - b'0');
        let weight = if i == 8 { -1 } else { 9 - i as i64 };
        sum += weight * d;
    }
    sum % 11 == 0 && bytes.iter().any(|b| *b != b'0')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eleven_check_accepts_known_test_numbers() {
        // 999990019 and 999990032 are published test BSNs (RvIG test set).
        assert!(bsn_passes_eleven_check("999990019"));
        assert!(bsn_passes_eleven_check("999990032"));
        assert!(bsn_passes_eleven_check("111222333"));
    }

    #[test]
    fn eleven_check_rejects_bad_input() {
        assert!(!bsn_passes_eleven_check("999990018"));
        assert!(!bsn_passes_eleven_check("000000000"));
        assert!(!bsn_passes_eleven_check("12345678"));
        assert!(!bsn_passes_eleven_check("1234567890"));
        assert!(!bsn_passes_eleven_check("12345678a"));
        assert!(!bsn_passes_eleven_check(""));
    }
}
