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

#[derive(Clone, Copy)]
struct Node {
    feature: u16,
    leaf: bool,
    left: u32,
    right: u32,
    threshold: f64,
    value: f64,
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
        let trees = file
            .trees
            .into_iter()
            .map(|t| {
                (0..t.leaf.len())
                    .map(|i| Node {
                        feature: t.feature[i],
                        leaf: t.leaf[i],
                        left: t.left[i],
                        right: t.right[i],
                        threshold: t.threshold[i],
                        value: t.value[i],
                    })
                    .collect()
            })
            .collect();
        Ok(LineModel { baseline: file.baseline, trees, threshold: file.threshold as f32 })
    }

    /// Probability that the line is article text.
    pub fn probability(&self, features: &Features) -> f32 {
        let mut score = self.baseline;
        for tree in &self.trees {
            let mut node = &tree[0];
            while !node.leaf {
                let goes_left = f64::from(features[usize::from(node.feature)]) <= node.threshold;
                node = &tree[if goes_left { node.left } else { node.right } as usize];
            }
            score += node.value;
        }
        (1.0 / (1.0 + (-score).exp())) as f32
    }
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
    fn a_model_for_other_features_is_refused() {
        let json = r#"{"feature_names":["x"],"baseline":0,"threshold":0.5,"trees":[]}"#;
        assert!(LineModel::from_json(json).is_err());
    }
}
