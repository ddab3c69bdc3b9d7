//! `Stripe-Signature` parsing and verification (src/stripe/webhook.rs).
//!
//! The input is a delivery, `{Stripe-Signature}\n{raw body}` (the seeds are real
//! signed deliveries), and the same bytes also decode, through `arbitrary`, into
//! the fields of a signed delivery to check.
//!
//! 1. Any header, body, secret, tolerance and clock: `parse_header` and `verify`
//!    never panic, and `verify` fails with `parse_header`'s error when the
//!    header does not parse.
//! 2. A body signed with `signature_header` (one or more secrets, optional test
//!    mode `v0` decoy, junk entries around it) verifies under each of its secrets,
//!    with exactly the age check stripe-node makes; the same header fails with
//!    `NoMatch` once the body, the timestamp or the secret is changed.
#![no_main]

use std::time::Duration;

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use tierbench::stripe::webhook::{SignatureError, parse_header, signature_header, verify};

/// How a correctly signed delivery is damaged.
#[derive(Arbitrary, Debug)]
enum Mutation {
    /// Flip bits of one byte (`mask` 0 is taken as 1).
    Flip { at: usize, mask: u8 },
    /// Insert a byte.
    Insert { at: usize, byte: u8 },
    /// Remove one byte.
    Remove { at: usize },
    /// Append bytes.
    Append(Vec<u8>),
    /// Cut to a shorter length.
    Truncate { len: usize },
}

impl Mutation {
    /// The changed body, or `None` when this mutation leaves `body` as it was.
    fn apply(&self, body: &[u8]) -> Option<Vec<u8>> {
        let mut b = body.to_vec();
        match self {
            Mutation::Flip { at, mask } => {
                if b.is_empty() {
                    return None;
                }
                let i = at % b.len();
                b[i] ^= if *mask == 0 { 1 } else { *mask };
            }
            Mutation::Insert { at, byte } => b.insert(at % (b.len() + 1), *byte),
            Mutation::Remove { at } => {
                if b.is_empty() {
                    return None;
                }
                let i = at % b.len();
                b.remove(i);
            }
            Mutation::Append(extra) => {
                if extra.is_empty() {
                    return None;
                }
                b.extend_from_slice(extra);
            }
            Mutation::Truncate { len } => {
                if b.is_empty() {
                    return None;
                }
                b.truncate(len % b.len());
            }
        }
        (b != body).then_some(b)
    }
}

/// The secret the seeds are signed with.
const SEED_SECRET: &str = "whsec_fuzz";

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    secret: &'a str,
    tolerance_s: u64,
    now_s: u64,
    body: &'a [u8],
    secrets: Vec<&'a str>,
    signer: usize,
    timestamp_s: u64,
    /// How long after signing it is verified (may be before: clocks differ).
    age_s: i64,
    decoy_v0: Option<u64>,
    /// Entries of other schemes put before the signed header (stripe-node skips
    /// them); `,` and `=` are stripped so they cannot forge a `t` or a `v1`.
    junk: Option<(&'a str, &'a str)>,
    mutation: Mutation,
    other_timestamp_s: u64,
    other_secret: &'a str,
}

fuzz_target!(|bytes: &[u8]| {
    let (header, body) = match bytes.iter().position(|&b| b == b'\n') {
        Some(i) => (&bytes[..i], &bytes[i + 1..]),
        None => (bytes, &[][..]),
    };
    let header = String::from_utf8_lossy(header);
    let input = Input::arbitrary_take_rest(Unstructured::new(bytes));
    let (secret, tolerance_s, now_s) = match &input {
        Ok(i) => (i.secret, i.tolerance_s, i.now_s),
        Err(_) => (SEED_SECRET, 0, 0),
    };
    delivery(&header, body, SEED_SECRET, tolerance_s, now_s);
    delivery(&header, body, secret, tolerance_s, now_s);
    if let Ok(input) = input {
        signed(&input);
    }
});

/// A delivery as it arrives: whatever the header says.
fn delivery(header: &str, body: &[u8], secret: &str, tolerance_s: u64, now_s: u64) {
    let tolerance = Duration::from_secs(tolerance_s);
    let parsed = parse_header(header);
    let verified = verify(body, header, secret, tolerance, now_s);
    let untimed = verify(body, header, secret, Duration::ZERO, now_s);
    match parsed {
        Err(e) => {
            assert_eq!(verified, Err(e.clone()));
            assert_eq!(untimed, Err(e));
        }
        Ok((t, signatures)) => {
            assert!(!signatures.is_empty());
            assert!(matches!(untimed, Ok(()) | Err(SignatureError::NoMatch)), "{untimed:?}");
            // The age is checked only once a signature matched.
            let expected = match untimed {
                Ok(()) if tolerance_s != 0 && now_s.saturating_sub(t) > tolerance_s => {
                    Err(SignatureError::TooOld)
                }
                other => other,
            };
            assert_eq!(verified, expected);
        }
    }
}

fn signed(input: &Input<'_>) {
    let mut secrets = input.secrets.clone();
    if secrets.is_empty() {
        secrets.push(input.secret);
    }
    secrets.truncate(8);
    let signer = secrets[input.signer % secrets.len()];
    let t = input.timestamp_s;
    let body = input.body;
    let decoy = input.decoy_v0.map(|d| format!("{d:x}"));
    let mut header = signature_header(&secrets, t, body, decoy.as_deref());
    if let Some((scheme, value)) = input.junk {
        let clean = |s: &str| s.replace([',', '='], "");
        let scheme = clean(scheme);
        if scheme.trim() != "t" && scheme != "v1" {
            header = format!("{scheme}={},{header}", clean(value));
        }
    }
    let tolerance = Duration::from_secs(input.tolerance_s);
    let now = t.saturating_add_signed(input.age_s);

    let (parsed_t, signatures) = parse_header(&header).expect("a signed header parses");
    assert_eq!(parsed_t, t);
    assert_eq!(signatures.len(), secrets.len());

    let too_old = input.tolerance_s != 0 && now.saturating_sub(t) > input.tolerance_s;
    let expected = if too_old { Err(SignatureError::TooOld) } else { Ok(()) };
    assert_eq!(verify(body, &header, signer, tolerance, now), expected, "header {header:?}");
    // With no tolerance the age never matters.
    assert_eq!(verify(body, &header, signer, Duration::ZERO, now), Ok(()));

    // A changed body, timestamp or secret never verifies, whatever the clock says.
    if let Some(changed) = input.mutation.apply(body) {
        assert_eq!(
            verify(&changed, &header, signer, tolerance, now),
            Err(SignatureError::NoMatch),
            "changed body {changed:?} verified with {header:?}"
        );
    }
    if input.other_timestamp_s != t {
        let v1s: Vec<String> = signatures.iter().map(|s| format!("v1={s}")).collect();
        let moved = format!("t={},{}", input.other_timestamp_s, v1s.join(","));
        assert_eq!(verify(body, &moved, signer, Duration::ZERO, now), Err(SignatureError::NoMatch));
    }
    // HMAC zero-pads keys to its block size, so `k` and `k\0` are the same key:
    // only a secret that differs otherwise must fail.
    let key = |s: &str| s.trim_end_matches('\0').to_owned();
    if !secrets.iter().any(|s| key(s) == key(input.other_secret)) {
        assert_eq!(
            verify(body, &header, input.other_secret, Duration::ZERO, now),
            Err(SignatureError::NoMatch)
        );
    }
}
