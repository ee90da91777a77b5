//! A run's budget: a maximum number of tokens and/or a cost, the cost computed from a
//! price table the user gives (per model, per million input and output tokens).

use std::collections::HashMap;

/// Prices of one model, per million tokens.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Price {
    pub input_per_million: f64,
    pub output_per_million: f64,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Budget {
    pub max_tokens: Option<u64>,
    pub max_cost: Option<f64>,
    pub prices: HashMap<String, Price>,
    pub tokens: u64,
    pub cost: f64,
}

impl Budget {
    /// Counts one call's usage. Without a price for `model` the cost is unknown: an error
    /// when the budget has a max_cost (the usage is still counted as tokens).
    pub fn add(&mut self, model: Option<&str>, input: u64, output: u64) -> Result<(), String> {
        self.tokens = self.tokens.saturating_add(input.saturating_add(output));
        let price = model.and_then(|m| self.prices.get(m));
        match price {
            Some(p) => {
                self.cost += input as f64 * p.input_per_million / 1e6
                    + output as f64 * p.output_per_million / 1e6;
                Ok(())
            }
            None if self.max_cost.is_some() => Err(match model {
                Some(m) => format!(
                    "report_usage: no price for model {m:?}; prices has {}",
                    self.known_models()
                ),
                None => "report_usage: a model is needed to count cost against max_cost".into(),
            }),
            None => Ok(()),
        }
    }

    fn known_models(&self) -> String {
        let mut names: Vec<_> = self.prices.keys().map(|k| format!("{k:?}")).collect();
        names.sort();
        if names.is_empty() {
            "no models".into()
        } else {
            names.join(", ")
        }
    }

    /// Why the budget is used up, or None while some is left.
    pub fn exhausted(&self) -> Option<String> {
        if let Some(max) = self.max_tokens {
            if self.tokens >= max {
                return Some(format!(
                    "budget exhausted: {} tokens used of max_tokens={max}",
                    self.tokens
                ));
            }
        }
        if let Some(max) = self.max_cost {
            if self.cost >= max {
                return Some(format!(
                    "budget exhausted: cost {:.4} reached max_cost={max}",
                    self.cost
                ));
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn priced() -> Budget {
        Budget {
            max_cost: Some(1.0),
            prices: HashMap::from([(
                "m".to_string(),
                Price {
                    input_per_million: 2.0,
                    output_per_million: 8.0,
                },
            )]),
            ..Default::default()
        }
    }

    #[test]
    fn tokens_count_up_to_the_maximum() {
        let mut b = Budget {
            max_tokens: Some(1_000),
            ..Default::default()
        };
        b.add(None, 400, 100).unwrap();
        assert_eq!(b.exhausted(), None);
        b.add(Some("any"), 450, 50).unwrap();
        assert_eq!(
            b.exhausted().as_deref(),
            Some("budget exhausted: 1000 tokens used of max_tokens=1000")
        );
    }

    #[test]
    fn cost_comes_from_the_price_table() {
        let mut b = priced();
        b.add(Some("m"), 100_000, 50_000).unwrap(); // 0.2 + 0.4
        assert!((b.cost - 0.6).abs() < 1e-12);
        assert_eq!(b.exhausted(), None);
        b.add(Some("m"), 0, 50_000).unwrap(); // + 0.4
        assert!(b
            .exhausted()
            .unwrap()
            .starts_with("budget exhausted: cost 1.0000"));
    }

    #[test]
    fn an_unpriced_model_is_an_error_only_with_a_max_cost() {
        let mut b = priced();
        let err = b.add(Some("other"), 1, 1).unwrap_err();
        assert!(err.contains("\"other\"") && err.contains("\"m\""), "{err}");
        assert_eq!(b.tokens, 2);
        let mut tokens_only = Budget {
            max_tokens: Some(10),
            ..Default::default()
        };
        assert!(tokens_only.add(Some("other"), 1, 1).is_ok());
    }
}
