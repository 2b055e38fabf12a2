//! Pure helpers for key rotation; the server does the store calls.

use latch_core::UnixTime;
use latch_core::store::SigningKeyRecord;

use crate::Algorithm;

/// The `(generation, activate_at)` of the next key for `alg`: one more than the highest
/// generation stored, activating after `propagation_delay` so that relying parties that cache
/// the JWKS see the key before tokens signed with it. The first key of an algorithm activates
/// at once: there is no older key to keep signing meanwhile.
pub fn plan_rotation(
    records: &[SigningKeyRecord],
    alg: Algorithm,
    now: UnixTime,
    propagation_delay: i64,
) -> (i64, UnixTime) {
    match max_generation(records, alg) {
        Some(generation) => (generation + 1, now.saturating_add(propagation_delay.max(0))),
        None => (1, now),
    }
}

/// The algorithms in `wanted` that have no key at all (first start, or an algorithm newly
/// enabled), in the order given.
pub fn missing_algorithms(records: &[SigningKeyRecord], wanted: &[Algorithm]) -> Vec<Algorithm> {
    let mut missing: Vec<Algorithm> = Vec::new();
    for &alg in wanted {
        if max_generation(records, alg).is_none() && !missing.contains(&alg) {
            missing.push(alg);
        }
    }
    missing
}

fn max_generation(records: &[SigningKeyRecord], alg: Algorithm) -> Option<i64> {
    records
        .iter()
        .filter(|record| record.alg == alg.as_str())
        .map(|record| record.generation)
        .max()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn record(alg: Algorithm, generation: i64) -> SigningKeyRecord {
        SigningKeyRecord {
            kid: format!("{alg}-{generation}"),
            alg: alg.as_str().to_owned(),
            generation,
            public_jwk: String::new(),
            private_key_encrypted: Vec::new(),
            created_at: 0,
            activate_at: 0,
        }
    }

    #[test]
    fn rotation_takes_the_next_generation_and_activates_after_the_delay() {
        let records = [
            record(Algorithm::RS256, 1),
            record(Algorithm::RS256, 3),
            record(Algorithm::ES256, 7),
        ];
        assert_eq!(
            plan_rotation(&records, Algorithm::RS256, 1000, 600),
            (4, 1600)
        );
        assert_eq!(
            plan_rotation(&records, Algorithm::ES256, 1000, 600),
            (8, 1600)
        );
    }

    #[test]
    fn the_first_key_of_an_algorithm_is_generation_one_and_activates_at_once() {
        let records = [record(Algorithm::RS256, 1)];
        assert_eq!(
            plan_rotation(&records, Algorithm::EdDSA, 1000, 600),
            (1, 1000)
        );
    }

    #[test]
    fn missing_algorithms_lists_wanted_algorithms_without_any_key() {
        let records = [record(Algorithm::ES256, 2)];
        assert_eq!(
            missing_algorithms(&records, &Algorithm::ALL),
            vec![Algorithm::RS256, Algorithm::EdDSA]
        );
        assert_eq!(missing_algorithms(&records, &[Algorithm::ES256]), vec![]);
        assert_eq!(
            missing_algorithms(&[], &[Algorithm::EdDSA, Algorithm::EdDSA]),
            vec![Algorithm::EdDSA]
        );
    }
}
