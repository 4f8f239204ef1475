//! The line classifier: gradient-boosted trees trained by `scripts/train_cleaner.py` on wcxb-dev and
//! stored beside this file as `model.json`. Walking the trees costs a few microseconds a line.

use std::sync::LazyLock;

use serde::Deserialize;

use super::features::{FEATURE_NAMES, Features};

#[derive(Deserialize)]
struct ModelFile {
    feature_names: Vec<String>,
    threshold: f64,
    baseline: f64,
    trees: Vec<TreeFile>,
}

#[derive(Deserialize)]
struct TreeFile {
    feature: Vec<u16>,
    threshold: Vec<f64>,
    left: Vec<u32>,
    right: Vec<u32>,
    leaf: Vec<bool>,
    value: Vec<f64>,
}

/// Eight bytes a node, so the whole ensemble stays in cache. A split holds its threshold in
/// `number`, the feature it reads and its two children; a leaf holds its value in `number`, reads
/// feature 0 and has itself for both children, so stepping past a leaf stays on it: a row can take
/// the tree's full depth in steps, whatever its path, with no test for having arrived.
#[derive(Clone, Copy, Default)]
struct Node {
    number: f32,
    feature: u8,
    /// Left child, then right child.
    children: [u8; 2],
}

/// A tree's nodes, padded to 256 so a `u8` node index needs no bounds check (the default 31
/// leaves make 61 nodes).
struct Tree {
    nodes: Box<[Node; 256]>,
    /// Steps from the root to the deepest leaf.
    depth: usize,
}

/// Rows walk each tree together in groups of this many: their loads overlap instead of waiting on
/// one another, and no row's step depends on a branch.
const LANES: usize = 8;

/// The largest `f32` not above `threshold`: for an `f32` feature `x`, `x <= it` exactly when
/// `x <= threshold`, so the trees decide as they did in training.
fn threshold_for_f32(threshold: f64) -> f32 {
    let rounded = threshold as f32;
    if f64::from(rounded) > threshold { rounded.next_down() } else { rounded }
}

/// A gradient-boosted tree ensemble over a line's features (`features::page_features`).
pub struct LineModel {
    baseline: f64,
    trees: Vec<Tree>,
    /// Decision threshold on the probability of being article text, chosen by cross-validation.
    pub threshold: f32,
}

/// The model built into the binary.
pub static BUILT_IN: LazyLock<LineModel> =
    LazyLock::new(|| LineModel::from_json(include_str!("model.json")).expect("the built-in line model is valid"));

impl LineModel {
    pub fn from_json(json: &str) -> Result<Self, String> {
        let file: ModelFile = serde_json::from_str(json).map_err(|e| e.to_string())?;
        if file.feature_names != FEATURE_NAMES {
            return Err("the model was trained on other features: retrain with scripts/train_cleaner.py".into());
        }
        let trees = file.trees.into_iter().map(compact_tree).collect::<Result<_, _>>()?;
        Ok(LineModel { baseline: file.baseline, trees, threshold: file.threshold as f32 })
    }

    /// Probability that the line is article text.
    pub fn probability(&self, features: &Features) -> f32 {
        self.probabilities(&[features])[0]
    }

    /// Probability that each line is article text. Tree by tree over all rows, so one tree's nodes
    /// stay in L1 while every row passes through it, `LANES` rows at a time, each taking the tree's
    /// depth in steps (rows at a leaf stay there): no branch on any row's path, where stopping
    /// each row at its leaf cost a test of every lane at every step.
    pub fn probabilities(&self, rows: &[&Features]) -> Vec<f32> {
        let mut scores = vec![self.baseline; rows.len()];
        for tree in &self.trees {
            let mut groups = rows.chunks_exact(LANES);
            let mut group_scores = scores.chunks_exact_mut(LANES);
            for (group, scores) in (&mut groups).zip(&mut group_scores) {
                let group: &[&Features; LANES] = group.try_into().expect("chunks_exact gives whole groups");
                for (score, leaf) in scores.iter_mut().zip(tree.leaves(group)) {
                    *score += f64::from(leaf);
                }
            }
            for (row, score) in groups.remainder().iter().zip(group_scores.into_remainder()) {
                *score += f64::from(tree.leaves(&[*row])[0]);
            }
        }
        scores.into_iter().map(|score| (1.0 / (1.0 + (-score).exp())) as f32).collect()
    }
}

impl Tree {
    /// The value of the leaf each row ends at.
    fn leaves<const N: usize>(&self, rows: &[&Features; N]) -> [f32; N] {
        // Node indexes are held as `usize` in registers: as a `[u8; N]` they were packed into one
        // register and unpacked with shifts at every step.
        let mut at = [0usize; N];
        for _ in 0..self.depth {
            for (row, at) in rows.iter().zip(&mut at) {
                let node = self.nodes[*at & 0xFF];
                // As in training, a value not at or below the threshold (NaN included) goes right.
                let goes_left = row[usize::from(node.feature).min(LAST_FEATURE)] <= node.number;
                *at = usize::from(node.children[usize::from(!goes_left)]);
            }
        }
        at.map(|at| self.nodes[at & 0xFF].number)
    }
}

/// Clamping a node's feature to a real index lets the compiler drop the bounds check; every node's
/// feature is a real index already (checked when the model loads).
const LAST_FEATURE: usize = super::features::FEATURE_COUNT - 1;

fn compact_tree(t: TreeFile) -> Result<Tree, String> {
    let index = |i: u32| u8::try_from(i).map_err(|_| "a tree has more than 256 nodes".to_string());
    let mut tree = Tree { nodes: Box::new([Node::default(); 256]), depth: 0 };
    let mut depths = vec![0usize; t.leaf.len()];
    for i in 0..t.leaf.len() {
        let node = usize::from(index(i as u32)?);
        if t.leaf[i] {
            tree.nodes[node].number = t.value[i] as f32;
            tree.nodes[node].children = [node as u8; 2];
            continue;
        }
        tree.nodes[node].feature = u8::try_from(t.feature[i])
            .ok()
            .filter(|&f| usize::from(f) <= LAST_FEATURE)
            .ok_or_else(|| format!("a split reads feature {}, past the last", t.feature[i]))?;
        tree.nodes[node].number = threshold_for_f32(t.threshold[i]);
        let (left, right) = (index(t.left[i])?, index(t.right[i])?);
        // Children come after their parent in the file, so a parent's depth is known first.
        if usize::from(left.min(right)) <= i || usize::from(left.max(right)) >= t.leaf.len() {
            return Err("a split's children must follow it in the tree".into());
        }
        tree.nodes[node].children = [left, right];
        depths[usize::from(left)] = depths[i] + 1;
        depths[usize::from(right)] = depths[i] + 1;
    }
    tree.depth = depths.into_iter().max().unwrap_or(0);
    Ok(tree)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_model_loads_and_scores_within_zero_and_one() {
        let model = &*BUILT_IN;
        assert!(!model.trees.is_empty());
        assert!((0.0..1.0).contains(&model.threshold));
        let p = model.probability(&[0.5; super::super::features::FEATURE_COUNT]);
        assert!((0.0..=1.0).contains(&p));
    }

    #[test]
    fn thresholds_rounded_to_f32_decide_exactly_as_in_training() {
        for threshold in [0.1f64, 1.49786615, -0.3, 2.0, 9.02099419] {
            let t = threshold_for_f32(threshold);
            for x in [t.next_down(), t, t.next_up()] {
                assert_eq!(x <= t, f64::from(x) <= threshold, "x = {x}, threshold = {threshold}");
            }
        }
    }

    /// One tree: feature 0 <= 0.5 goes to a leaf at depth 1 (value 1); else feature 1 <= 0.5 to a
    /// leaf at depth 2 (value 2), else a leaf at depth 2 (value 3). Nine rows: a full group of
    /// `LANES` and one left over, mixing shallow and deep paths.
    #[test]
    fn every_row_scores_the_leaf_its_own_path_reaches() {
        let names: Vec<String> = FEATURE_NAMES.iter().map(|n| format!("{n:?}")).collect();
        let json = format!(
            r#"{{"feature_names":[{}],"baseline":0,"threshold":0.5,"trees":[{{
                "feature":[0,0,1,0,0],"threshold":[0.5,0,0.5,0,0],"left":[1,0,3,0,0],"right":[2,0,4,0,0],
                "leaf":[false,true,false,true,true],"value":[0,1,0,2,3]}}]}}"#,
            names.join(",")
        );
        let model = LineModel::from_json(&json).unwrap();
        let row = |a: f32, b: f32| {
            let mut f = [0f32; super::super::features::FEATURE_COUNT];
            (f[0], f[1]) = (a, b);
            f
        };
        let rows = [
            row(0., 0.),
            row(1., 0.),
            row(1., 1.),
            row(0., 1.),
            row(1., 1.),
            row(1., 0.),
            row(0., 0.),
            row(1., 1.),
            row(1., 0.),
        ];
        let expected = [1., 2., 3., 1., 3., 2., 1., 3., 2.];
        let sigmoid = |x: f64| (1.0 / (1.0 + (-x).exp())) as f32;
        let got = model.probabilities(&rows.iter().collect::<Vec<_>>());
        assert_eq!(got, expected.map(sigmoid));
    }

    #[test]
    fn a_model_for_other_features_is_refused() {
        let json = r#"{"feature_names":["x"],"baseline":0,"threshold":0.5,"trees":[]}"#;
        assert!(LineModel::from_json(json).is_err());
    }
}
