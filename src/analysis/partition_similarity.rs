//! Element-centric similarity of two partitions (Gates, Wood, Hetrick & Ahn 2019, Sci. Rep.
//! 9:8574), as in the `clusim` package for disjoint, flat clusterings: each element's affinity
//! to the others is uniform over its own cluster, pᵢⱼ = 1/|C(i)| for j ∈ C(i); element i's
//! similarity is 1 − ½ Σⱼ |pᵢⱼᴬ − pᵢⱼᴮ|, and the partitions' similarity is the mean over
//! elements. Unassigned elements count as singletons.

use super::modularity::Partition;

/// Turns `None` into fresh singleton labels.
fn complete(p: &Partition) -> Vec<usize> {
    let mut next = p.iter().flatten().max().map_or(0, |k| k + 1);
    p.iter()
        .map(|l| {
            l.unwrap_or_else(|| {
                next += 1;
                next - 1
            })
        })
        .collect()
}

pub fn element_centric_similarity(a: &Partition, b: &Partition) -> f64 {
    assert_eq!(a.len(), b.len(), "partitions of the same elements");
    let (a, b) = (complete(a), complete(b));
    let n = a.len();
    if n == 0 {
        return 1.0;
    }
    let size = |labels: &[usize], k: usize| labels.iter().filter(|&&l| l == k).count() as f64;
    let total: f64 = (0..n)
        .map(|i| {
            let (sa, sb) = (size(&a, a[i]), size(&b, b[i]));
            let distance: f64 = (0..n)
                .map(|j| {
                    let pa = if a[j] == a[i] { 1.0 / sa } else { 0.0 };
                    let pb = if b[j] == b[i] { 1.0 / sb } else { 0.0 };
                    (pa - pb).abs()
                })
                .sum();
            1.0 - 0.5 * distance
        })
        .sum();
    total / n as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(labels: &[usize]) -> Partition {
        labels.iter().map(|&l| Some(l)).collect()
    }

    #[test]
    fn identical_partitions_are_fully_similar_whatever_the_labels() {
        assert!((element_centric_similarity(&p(&[0, 0, 1, 1, 2]), &p(&[5, 5, 3, 3, 9])) - 1.0).abs() < 1e-12);
    }

    #[test]
    fn by_hand_one_big_cluster_vs_singletons() {
        // A = {0,1,2}, B = singletons. Element i: pᴬ = ⅓ on all three, pᴮ = 1 on itself:
        // Σ|·| = (1 − ⅓) + ⅓ + ⅓ = 4/3, similarity 1 − ⅔ = ⅓ for every element.
        let s = element_centric_similarity(&p(&[0, 0, 0]), &p(&[0, 1, 2]));
        assert!((s - 1.0 / 3.0).abs() < 1e-12, "{s}");
    }

    #[test]
    fn by_hand_split_of_one_cluster() {
        // A = {0,1,2,3}, B = {0,1},{2,3}: pᴬ = ¼ each; pᴮ = ½ on two. Σ|·| = 2·¼ + 2·¼ = 1,
        // similarity ½ for every element.
        let s = element_centric_similarity(&p(&[0, 0, 0, 0]), &p(&[0, 0, 1, 1]));
        assert!((s - 0.5).abs() < 1e-12, "{s}");
    }

    #[test]
    fn matches_clusim() {
        // clusim 0.4 (`pip install clusim`): element_sim(Clustering(...), ..., alpha=0.9) for
        // these two partitions of 7 elements printed 0.5238095238095237.
        let s = element_centric_similarity(&p(&[0, 0, 1, 1, 2, 2, 2]), &p(&[0, 1, 1, 2, 2, 3, 3]));
        assert!((s - 0.523_809_523_809_523_7).abs() < 1e-12, "{s}");
    }

    #[test]
    fn symmetric_and_unassigned_are_singletons() {
        let a: Partition = vec![Some(0), Some(0), None];
        let b = p(&[0, 0, 1]);
        assert!((element_centric_similarity(&a, &b) - 1.0).abs() < 1e-12);
        let c = p(&[0, 1, 1]);
        assert_eq!(element_centric_similarity(&a, &c), element_centric_similarity(&c, &a));
    }
}
