//! The line classifier: gradient-boosted trees trained by `scripts/train_cleaner.py` on wcxb-dev and
//! stored beside this file as `model.json`. Walking the trees costs a few microseconds a line.

use std::sync::LazyLock;

use serde::Deserialize;

use super::features::{FEATURE_COUNT, FEATURE_NAMES, Features};

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

/// Eight bytes a node, so a tree's nodes stay in L1 while every row passes through it. A node's
/// right child is the node after its left one, so a step reads the feature, compares, and adds the
/// comparison to `left`, with no second lookup for the child. A leaf has itself as `left`, reads the
/// always-zero `ZERO_SLOT` and has an infinite threshold, so every row stepping past it stays on it:
/// a row can take the tree's full depth in steps, whatever its path, with no test for having arrived.
#[derive(Clone, Copy)]
struct Node {
    threshold: f32,
    feature: u8,
    left: u8,
}

impl Default for Node {
    /// A leaf of its own at index 0: a padding slot no row reaches.
    fn default() -> Self {
        Node { threshold: f32::INFINITY, feature: ZERO_SLOT, left: 0 }
    }
}

/// A tree's nodes and their leaf values, padded to 256 so a `u8` node index needs no bounds check
/// (the default 31 leaves make 61 nodes).
struct Tree {
    nodes: Box<[Node; 256]>,
    /// The value of each leaf, at the leaf's index.
    values: Box<[f32; 256]>,
    /// Steps from the root to the deepest leaf.
    depth: usize,
}

/// A line's features as the trees read them: padded to a power of two, so a node's feature index
/// is masked into range instead of bounds-checked, and with a zero slot for leaves to read.
type Row = [f32; ROW_SLOTS];
const ROW_SLOTS: usize = 128;
const ZERO_SLOT: u8 = (ROW_SLOTS - 1) as u8;
const _: () = assert!(FEATURE_COUNT < ROW_SLOTS);

/// Rows scored together: 32 KB of them, which leaves room in L1 for a tree's 3 KB.
const BLOCK_ROWS: usize = 64;

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

    /// Probability that each line is article text. A block of rows at a time, tree by tree, so one
    /// tree's nodes stay in L1 while the block passes through it, `LANES` rows at a time, each taking
    /// the tree's depth in steps (rows at a leaf stay there): no branch on any row's path, where
    /// stopping each row at its leaf cost a test of every lane at every step.
    pub fn probabilities(&self, rows: &[&Features]) -> Vec<f32> {
        let mut scores = vec![self.baseline; rows.len()];
        // Rows are copied into a block side by side, so a lane's row sits at a fixed offset from
        // its group's (a group's rows take one register, not one each), and the block stays in L1
        // while it walks every tree.
        let mut block = [[0.0; ROW_SLOTS]; BLOCK_ROWS];
        for (rows, scores) in rows.chunks(BLOCK_ROWS).zip(scores.chunks_mut(BLOCK_ROWS)) {
            for (slot, features) in block.iter_mut().zip(rows) {
                slot[..FEATURE_COUNT].copy_from_slice(*features);
            }
            self.add_leaves(&block[..rows.len()], scores);
        }
        scores.into_iter().map(|score| (1.0 / (1.0 + (-score).exp())) as f32).collect()
    }

    /// Adds to each row's score the leaf it reaches in every tree, tree by tree.
    fn add_leaves(&self, rows: &[Row], scores: &mut [f64]) {
        for tree in &self.trees {
            let mut groups = rows.chunks_exact(LANES);
            let mut group_scores = scores.chunks_exact_mut(LANES);
            for (group, scores) in (&mut groups).zip(&mut group_scores) {
                let group: &[Row; LANES] = group.try_into().expect("chunks_exact gives whole groups");
                for (score, leaf) in scores.iter_mut().zip(tree.leaves(group)) {
                    *score += f64::from(leaf);
                }
            }
            for (row, score) in groups.remainder().iter().zip(group_scores.into_remainder()) {
                *score += f64::from(tree.leaves(std::array::from_ref(row))[0]);
            }
        }
    }
}

impl Tree {
    /// The value of the leaf each row ends at.
    fn leaves<const N: usize>(&self, rows: &[Row; N]) -> [f32; N] {
        // Node indexes are held as `usize` in registers: as a `[u8; N]` they were packed into one
        // register and unpacked with shifts at every step.
        let mut at = [0usize; N];
        for _ in 0..self.depth {
            for (row, at) in rows.iter().zip(&mut at) {
                let node = self.nodes[*at & 0xFF];
                // As in training, a value not at or below the threshold (NaN included) goes right.
                let goes_left = row[usize::from(node.feature) & (ROW_SLOTS - 1)] <= node.threshold;
                *at = usize::from(node.left) + usize::from(!goes_left);
            }
        }
        at.map(|at| self.values[at & 0xFF])
    }
}

/// Numbers the nodes breadth first, each split's two children side by side (`Node`).
fn compact_tree(t: TreeFile) -> Result<Tree, String> {
    let count = t.leaf.len();
    if count == 0 || count > 256 {
        return Err(format!("a tree has {count} nodes (1 to 256 are allowed)"));
    }
    let mut tree = Tree { nodes: Box::new([Node::default(); 256]), values: Box::new([0.0; 256]), depth: 0 };
    // File index → (index here, depth), for the nodes numbered so far.
    let mut placed = vec![None; count];
    let mut queue = std::collections::VecDeque::from([0usize]);
    placed[0] = Some((0u8, 0usize));
    let mut next = 1usize;
    while let Some(i) = queue.pop_front() {
        let (at, depth) = placed[i].expect("queued nodes are numbered");
        tree.depth = tree.depth.max(depth);
        let node = &mut tree.nodes[usize::from(at)];
        if t.leaf[i] {
            tree.values[usize::from(at)] = t.value[i] as f32;
            node.left = at;
            continue;
        }
        node.feature = u8::try_from(t.feature[i])
            .ok()
            .filter(|&f| usize::from(f) < FEATURE_COUNT)
            .ok_or_else(|| format!("a split reads feature {}, past the last", t.feature[i]))?;
        node.threshold = threshold_for_f32(t.threshold[i]);
        node.left = next as u8;
        let (left, right) = (t.left[i] as usize, t.right[i] as usize);
        // Children come after their parent in the file, so each node is reached once.
        if left.min(right) <= i || left.max(right) >= count || left == right {
            return Err("a split's children must follow it in the tree".into());
        }
        for (child, number) in [(left, next), (right, next + 1)] {
            if placed[child].is_some() {
                return Err("a node has two parents".into());
            }
            placed[child] = Some((number as u8, depth + 1));
            queue.push_back(child);
        }
        next += 2;
    }
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
    fn a_tree_without_nodes_is_refused() {
        let names: Vec<String> = FEATURE_NAMES.iter().map(|n| format!("{n:?}")).collect();
        let json = format!(
            r#"{{"feature_names":[{}],"baseline":0,"threshold":0.5,"trees":[{{
                "feature":[],"threshold":[],"left":[],"right":[],"leaf":[],"value":[]}}]}}"#,
            names.join(",")
        );
        assert!(LineModel::from_json(&json).is_err());
    }

    #[test]
    fn a_model_for_other_features_is_refused() {
        let json = r#"{"feature_names":["x"],"baseline":0,"threshold":0.5,"trees":[]}"#;
        assert!(LineModel::from_json(json).is_err());
    }
}
