//! mE5 sentence embeddings on the real model: shape, normalisation, cross-lingual similarity.
//!
//! Needs `CALLSIGHT_ORT_DYLIB`, `CALLSIGHT_ME5_MODEL` and `CALLSIGHT_ME5_TOKENIZER`; without them
//! the tests print why and pass.

use std::path::PathBuf;

use callsight_models::text::{E5_EMBEDDING_DIM, E5Embedder};
use callsight_pipeline::engines::TextEmbedder;

fn load_embedder() -> anyhow::Result<Option<E5Embedder>> {
    let paths = ["CALLSIGHT_ORT_DYLIB", "CALLSIGHT_ME5_MODEL", "CALLSIGHT_ME5_TOKENIZER"]
        .map(|name| std::env::var_os(name).map(PathBuf::from));
    let [Some(ort_dylib), Some(model), Some(tokenizer)] = paths else {
        eprintln!(
            "skipping: set CALLSIGHT_ORT_DYLIB, CALLSIGHT_ME5_MODEL and CALLSIGHT_ME5_TOKENIZER to run the mE5 tests"
        );
        return Ok(None);
    };
    callsight_models::onnx::init_onnx_runtime(&ort_dylib)?;
    Ok(Some(E5Embedder::load(&model, &tokenizer, 1)?))
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[test]
fn embeddings_are_unit_vectors_in_input_order() -> anyhow::Result<()> {
    let Some(embedder) = load_embedder()? else { return Ok(()) };
    let long_text = "please hold the line while I check your account. ".repeat(120);
    let texts = ["hello", long_text.as_str(), "", "Добрый день, чем могу помочь?"];
    let embeddings = embedder.embed(&texts)?;
    assert_eq!(embeddings.len(), texts.len());
    for embedding in &embeddings {
        assert_eq!(embedding.len(), E5_EMBEDDING_DIM);
        let norm = cosine(embedding, embedding).sqrt();
        assert!((norm - 1.0).abs() < 1e-3, "norm {norm}");
    }
    // Batched and one-by-one give the same vector for the same text (padding is masked out).
    let alone = embedder.embed(&["Добрый день, чем могу помочь?"])?;
    assert!(cosine(&alone[0], &embeddings[3]) > 0.999);
    Ok(())
}

#[test]
fn recording_notice_matches_its_russian_translation() -> anyhow::Result<()> {
    let Some(embedder) = load_embedder()? else { return Ok(()) };
    let embeddings = embedder.embed(&[
        "this call may be recorded for quality and training purposes",
        "этот звонок может быть записан для контроля качества",
        "мне нужно заменить батарейку в пульте от телевизора",
    ])?;
    let translation_cosine = cosine(&embeddings[0], &embeddings[1]);
    let unrelated_cosine = cosine(&embeddings[0], &embeddings[2]);
    eprintln!("translation {translation_cosine:.3}, unrelated {unrelated_cosine:.3}");
    // mE5 cosines are compressed (unrelated pairs sit near 0.8), so "clearly" means a wide gap here.
    assert!(translation_cosine > 0.88, "translation cosine {translation_cosine}");
    assert!(translation_cosine - unrelated_cosine > 0.05, "{translation_cosine} vs {unrelated_cosine}");
    Ok(())
}
