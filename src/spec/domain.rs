//! Domain checks for experiment parameters, run when a spec loads (after each profile and sweep
//! point is applied), so a bad value is refused with its name and what is allowed before
//! anything trains.

/// A parameter outside its domain: which one (its dotted path in the spec) and why.
#[derive(Debug, Clone, PartialEq)]
pub struct OutOfDomain {
    pub param: String,
    pub message: String,
}

pub type Checked = Result<(), OutOfDomain>;

fn fail(param: &str, message: String) -> Checked {
    Err(OutOfDomain {
        param: param.to_string(),
        message,
    })
}

/// An integer in `min..=max`.
pub fn count_in(param: &str, value: usize, min: usize, max: usize) -> Checked {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        fail(param, format!("`{param}` is {value}; allowed: {min} to {max}"))
    }
}

/// A finite number strictly between `low` and `high`.
pub fn open_interval(param: &str, value: f64, low: f64, high: f64) -> Checked {
    if value.is_finite() && value > low && value < high {
        Ok(())
    } else {
        fail(
            param,
            format!("`{param}` is {value}; allowed: a number in ({low}, {high})"),
        )
    }
}

/// A finite number in an interval; `closed` says which ends belong to it (low, high).
pub fn interval(param: &str, value: f64, low: f64, high: f64, closed: (bool, bool)) -> Checked {
    let above = if closed.0 { value >= low } else { value > low };
    let below = if closed.1 { value <= high } else { value < high };
    if value.is_finite() && above && below {
        Ok(())
    } else {
        let (open, close) = (if closed.0 { '[' } else { '(' }, if closed.1 { ']' } else { ')' });
        fail(
            param,
            format!("`{param}` is {value}; allowed: a number in {open}{low}, {high}{close}"),
        )
    }
}

/// A finite number ≥ 0.
pub fn non_negative(param: &str, value: f64) -> Checked {
    if value.is_finite() && value >= 0.0 {
        Ok(())
    } else {
        fail(param, format!("`{param}` is {value}; allowed: a finite number ≥ 0"))
    }
}

/// A finite number > 0.
pub fn positive(param: &str, value: f64) -> Checked {
    if value.is_finite() && value > 0.0 {
        Ok(())
    } else {
        fail(param, format!("`{param}` is {value}; allowed: a finite number > 0"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_check_names_the_parameter_and_the_allowed_range() {
        assert!(count_in("hidden", 16, 1, 1024).is_ok());
        let e = count_in("hidden", 0, 1, 1024).unwrap_err();
        assert_eq!(e.param, "hidden");
        assert!(e.message.contains("allowed: 1 to 1024"), "{}", e.message);
        assert!(open_interval("training.learning_rate", 1e-3, 0.0, 1.0).is_ok());
        for bad in [0.0, 1.0, -1e-3, f64::NAN, f64::INFINITY, 1e30] {
            assert!(open_interval("training.learning_rate", bad, 0.0, 1.0).is_err(), "{bad}");
        }
        assert!(non_negative("objective.weight", 0.0).is_ok());
        assert!(non_negative("objective.weight", -1.0).is_err());
        assert!(positive("time.dt", 0.0).is_err());
        assert!(interval("dropout", 0.0, 0.0, 1.0, (true, false)).is_ok());
        let e = interval("dropout", 1.0, 0.0, 1.0, (true, false)).unwrap_err();
        assert!(e.message.ends_with("allowed: a number in [0, 1)"), "{}", e.message);
        assert!(positive("time.dt", f64::NAN).is_err());
    }
}
