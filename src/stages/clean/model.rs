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

/// Eight bytes a node, so the whole ensemble stays in cache. A split holds its threshold in `number`
/// and indexes its children (up to 256 nodes: the default 31 leaves make 61). A leaf holds its value in
/// `number`, is marked by `feature == LEAF`, and points both children at itself, so stepping past a
/// leaf stays on it: several rows can then walk a tree in lock-step without branching on each.
#[derive(Clone, Copy)]
struct Node {
    number: f32,
    feature: u16,
    left: u8,
    right: u8,
}

const LEAF: u16 = u16::MAX;

/// Rows walk each tree together in groups of this many: their loads overlap instead of waiting on
/// one another.
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
    trees: Vec<Vec<Node>>,
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
    /// stay in L1 while every row passes through it, `LANES` rows at a time.
    pub fn probabilities(&self, rows: &[&Features]) -> Vec<f32> {
        let mut scores = vec![self.baseline; rows.len()];
        for tree in &self.trees {
            for (group, scores) in rows.chunks(LANES).zip(scores.chunks_mut(LANES)) {
                let mut at = [0u8; LANES];
                loop {
                    let mut all_at_leaves = true;
                    for (row, at) in group.iter().zip(&mut at) {
                        let node = tree[usize::from(*at)];
                        all_at_leaves &= node.feature == LEAF;
                        let goes_left = row[usize::from(node.feature.min(LAST_FEATURE))] <= node.number;
                        *at = if goes_left { node.left } else { node.right };
                    }
                    if all_at_leaves {
                        break;
                    }
                }
                for (score, at) in scores.iter_mut().zip(at) {
                    *score += f64::from(tree[usize::from(at)].number);
                }
            }
        }
        scores.into_iter().map(|score| (1.0 / (1.0 + (-score).exp())) as f32).collect()
    }
}

/// A leaf's `feature` is `LEAF`; clamped to a real index, its comparison is harmless because both
/// of its children are itself.
const LAST_FEATURE: u16 = (super::features::FEATURE_COUNT - 1) as u16;

fn compact_tree(t: TreeFile) -> Result<Vec<Node>, String> {
    let index = |i: u32| u8::try_from(i).map_err(|_| "a tree has more than 256 nodes".to_string());
    (0..t.leaf.len())
        .map(|i| {
            Ok(if t.leaf[i] {
                let itself = index(i as u32)?;
                Node { number: t.value[i] as f32, feature: LEAF, left: itself, right: itself }
            } else {
                Node {
                    number: threshold_for_f32(t.threshold[i]),
                    feature: t.feature[i],
                    left: index(t.left[i])?,
                    right: index(t.right[i])?,
                }
            })
        })
        .collect()
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

    #[test]
    fn a_model_for_other_features_is_refused() {
        let json = r#"{"feature_names":["x"],"baseline":0,"threshold":0.5,"trees":[]}"#;
        assert!(LineModel::from_json(json).is_err());
    }
}
