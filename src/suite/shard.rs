//! Shards: one suite split over several machines (CI jobs), each running a part of its
//! cases as a run tagged "i/n", merged back into one run afterwards (`history::merge`).
//!
//! The split depends only on the suite id and the cases' hashes: every machine, Python
//! version and case order gives the same parts. Cases are ordered by a digest of (suite
//! id, case hash) and dealt out in turn, so the parts differ in size by at most one case.

use std::fmt;

/// Part `index` (from 1) of `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl Shard {
    pub fn new(index: u32, count: u32) -> Result<Shard, String> {
        if count == 0 || index == 0 || index > count {
            return Err(format!(
                "a shard is i/n with 1 <= i <= n (the second of four is 2/4), got {index}/{count}"
            ));
        }
        Ok(Shard { index, count })
    }

    /// "i/n", as `--shard` and `TRIALRUN_SHARD` take it and the store tags runs.
    pub fn parse(text: &str) -> Result<Shard, String> {
        let bad =
            || format!("a shard is i/n with 1 <= i <= n (the second of four is 2/4), got {text:?}");
        let (i, n) = text.trim().split_once('/').ok_or_else(bad)?;
        let i = i.trim().parse::<u32>().map_err(|_| bad())?;
        let n = n.trim().parse::<u32>().map_err(|_| bad())?;
        Shard::new(i, n).map_err(|_| bad())
    }

    /// Positions (ascending) of the hashes that fall in this shard.
    pub fn members<S: AsRef<str>>(&self, suite_id: &str, hashes: &[S]) -> Vec<usize> {
        let mut order: Vec<(u64, &str, usize)> = hashes
            .iter()
            .enumerate()
            .map(|(i, h)| (key(suite_id, h.as_ref()), h.as_ref(), i))
            .collect();
        order.sort_unstable();
        let (index, count) = (self.index as usize - 1, self.count as usize);
        let mut kept: Vec<usize> = order
            .iter()
            .enumerate()
            .filter(|(rank, _)| rank % count == index)
            .map(|(_, &(_, _, i))| i)
            .collect();
        kept.sort_unstable();
        kept
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// A case's place in the deal: the first 8 bytes of md5(suite id, NUL, case hash).
fn key(suite_id: &str, hash: &str) -> u64 {
    let mut ctx = md5::Context::new();
    ctx.consume(suite_id.as_bytes());
    ctx.consume([0u8]);
    ctx.consume(hash.as_bytes());
    let digest = ctx.finalize().0;
    u64::from_be_bytes(digest[..8].try_into().expect("8 bytes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hashes(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("case-{i}")).collect()
    }

    #[test]
    fn shards_cover_every_case_once_and_differ_in_size_by_at_most_one() {
        let all = hashes(1001);
        let mut seen = vec![0; all.len()];
        let mut sizes = vec![];
        for i in 1..=4 {
            let part = Shard::new(i, 4).unwrap().members("suite", &all);
            sizes.push(part.len());
            for p in part {
                seen[p] += 1;
            }
        }
        assert!(seen.iter().all(|&n| n == 1));
        assert_eq!(sizes.iter().sum::<usize>(), 1001);
        assert!(
            sizes.iter().max().unwrap() - sizes.iter().min().unwrap() <= 1,
            "{sizes:?}"
        );
    }

    #[test]
    fn the_split_depends_on_the_suite_and_the_hashes_not_their_order() {
        let all = hashes(50);
        let shard = Shard::new(2, 3).unwrap();
        let named = |list: &[String]| -> Vec<String> {
            let mut v: Vec<String> = shard
                .members("suite", list)
                .into_iter()
                .map(|i| list[i].clone())
                .collect();
            v.sort();
            v
        };
        let mut reversed = all.clone();
        reversed.reverse();
        assert_eq!(named(&all), named(&reversed));
        let other: Vec<usize> = shard.members("another suite", &all);
        assert_ne!(shard.members("suite", &all), other);
    }

    #[test]
    fn the_split_is_fixed_across_builds() {
        // Changing the digest or the deal would split stored shards differently from new
        // ones: a merge would then refuse them. This pins it.
        let all = hashes(8);
        let parts: Vec<Vec<usize>> = (1..=2)
            .map(|i| Shard::new(i, 2).unwrap().members("s", &all))
            .collect();
        assert_eq!(parts, vec![vec![0, 2, 4, 7], vec![1, 3, 5, 6]]);
    }

    #[test]
    fn bad_shards_are_refused_naming_the_form() {
        for text in ["0/4", "5/4", "1/0", "x/4", "3", "1/4/2", ""] {
            let err = Shard::parse(text).unwrap_err();
            assert!(
                err.contains("i/n") && err.contains(&format!("{text:?}")),
                "{err}"
            );
        }
        assert_eq!(
            Shard::parse(" 2 / 4 ").unwrap(),
            Shard { index: 2, count: 4 }
        );
        assert_eq!(Shard::parse("4/4").unwrap().to_string(), "4/4");
    }
}
