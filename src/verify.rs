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
    fn an_unmeasured_value_fails() {
        let outcome = &evaluate(&[claim(Expectation::AtLeast(0.0))], &BTreeMap::new())[0];
        assert!(!outcome.passed && outcome.measured.is_none());
    }
}
