//! Grid search: the cartesian product of parameter values, each combination its own run.

/// Every combination of value indices, the first parameter varying slowest
/// (the order of `itertools.product`). No parameters gives one empty combination.
pub fn combinations(sizes: &[usize]) -> Vec<Vec<usize>> {
    let mut out = vec![Vec::with_capacity(sizes.len())];
    for &n in sizes {
        out = out
            .into_iter()
            .flat_map(|prefix| {
                (0..n).map(move |i| {
                    let mut c = prefix.clone();
                    c.push(i);
                    c
                })
            })
            .collect();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn product_in_itertools_order() {
        assert_eq!(
            combinations(&[2, 3]),
            vec![
                vec![0, 0],
                vec![0, 1],
                vec![0, 2],
                vec![1, 0],
                vec![1, 1],
                vec![1, 2]
            ]
        );
    }

    #[test]
    fn no_parameters_is_one_run() {
        assert_eq!(combinations(&[]), vec![Vec::<usize>::new()]);
    }
}
