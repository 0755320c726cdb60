//! Evaluating a spec's claims on measured values.

use std::collections::BTreeMap;

use crate::spec::Claim;

#[derive(Debug, Clone)]
pub struct ClaimOutcome {
    pub claim: Claim,
    /// `None` when the value could not be measured (e.g. no active latents): a failure.
    pub measured: Option<f64>,
    pub passed: bool,
}

/// What a claim came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimResult {
    Pass,
    Fail,
    /// Failed, as the spec's `not_reproduced` note says it does.
    NotReproduced,
    /// Passed although the spec says it does not reproduce: the note is stale.
    NowReproduces,
}

impl ClaimResult {
    pub fn label(self) -> &'static str {
        match self {
            ClaimResult::Pass => "pass",
            ClaimResult::Fail => "FAIL",
            ClaimResult::NotReproduced => "not reproduced",
            ClaimResult::NowReproduces => "FAIL: passes, remove `not_reproduced`",
        }
    }

    /// Whether `verify` must exit non-zero for it.
    pub fn is_failure(self) -> bool {
        matches!(self, ClaimResult::Fail | ClaimResult::NowReproduces)
    }
}

impl ClaimOutcome {
    pub fn result(&self) -> ClaimResult {
        match (self.passed, self.claim.not_reproduced.is_some()) {
            (true, false) => ClaimResult::Pass,
            (false, false) => ClaimResult::Fail,
            (false, true) => ClaimResult::NotReproduced,
            (true, true) => ClaimResult::NowReproduces,
        }
    }
}

pub fn evaluate(claims: &[Claim], measured: &BTreeMap<String, f64>) -> Vec<ClaimOutcome> {
    claims
        .iter()
        .map(|claim| {
            let value = measured.get(&claim.measure).copied();
            ClaimOutcome {
                claim: claim.clone(),
                measured: value,
                passed: value.is_some_and(|v| claim.expect.holds(v)),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::Expectation;

    fn claim(expect: Expectation) -> Claim {
        Claim {
            id: "c".into(),
            statement: "s".into(),
            measure: "m".into(),
            expect,
            published: "p".into(),
            source: "src".into(),
            not_reproduced: None,
        }
    }

    #[test]
    fn expectations_hold_or_fail_on_measured_values() {
        let measured = BTreeMap::from([("m".to_string(), 0.4)]);
        let pass = |e| evaluate(&[claim(e)], &measured)[0].passed;
        assert!(pass(Expectation::AtLeast(0.4)));
        assert!(!pass(Expectation::AtLeast(0.41)));
        assert!(pass(Expectation::AtMost(0.4)));
        assert!(pass(Expectation::AbsAtMost(0.5)));
        assert!(pass(Expectation::Near {
            value: 0.5,
            tolerance: 0.1 + 1e-12
        }));
        assert!(!pass(Expectation::Near {
            value: 0.6,
            tolerance: 0.1
        }));
    }

    #[test]
    fn a_claim_marked_not_reproduced_fails_only_when_it_passes() {
        let measured = BTreeMap::from([("m".to_string(), 0.4)]);
        let mut known = claim(Expectation::AtLeast(0.5));
        known.not_reproduced = Some("measured 0.4".into());
        assert_eq!(
            evaluate(&[known.clone()], &measured)[0].result(),
            ClaimResult::NotReproduced
        );
        assert!(!ClaimResult::NotReproduced.is_failure());
        known.expect = Expectation::AtLeast(0.3);
        assert_eq!(evaluate(&[known], &measured)[0].result(), ClaimResult::NowReproduces);
        assert!(ClaimResult::NowReproduces.is_failure());
        assert_eq!(
            evaluate(&[claim(Expectation::AtLeast(0.5))], &measured)[0].result(),
            ClaimResult::Fail
        );
    }

    #[test]
    fn an_unmeasured_value_fails() {
        let outcome = &evaluate(&[claim(Expectation::AtLeast(0.0))], &BTreeMap::new())[0];
        assert!(!outcome.passed && outcome.measured.is_none());
    }
}
