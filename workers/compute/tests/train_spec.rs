//! The train-mlp job spec: the documented JSON parses to the settings it names, the
//! canonical bytes round-trip, and every malformed spec is refused by a named error
//! (kind, version, unknown fields, model settings, segment plan, checkpoint store, the
//! data input and the data's bytes).

use gpu_market_compute::spec::train::{
    MAX_CHECKPOINT_STORE_LEN, MAX_STEPS_PER_SEGMENT, MAX_TRAIN_DATA_BYTES, MAX_TRAIN_SEGMENTS,
};
use gpu_market_compute::spec::{
    sha256, spec_kind, BlobRef, NamedBlob, SpecError, TrainMlp, TrainMlpSpec, TrainWorkload,
};
use gpu_market_compute::train::{ConfigError, Digits};

fn digits_bytes() -> Vec<u8> {
    std::fs::read(Digits::bundled_path()).unwrap()
}

fn spec() -> TrainMlpSpec {
    let bytes = digits_bytes();
    TrainMlpSpec {
        version: 1,
        workload: TrainWorkload::TrainMlp(TrainMlp {
            input: 64,
            hidden: 32,
            classes: 10,
            batch: 32,
            learning_rate: 0.1,
            momentum: 0.9,
            init_seed: 1,
            data_seed: 2,
            steps_per_segment: 100,
            segments: 6,
            checkpoint_store: "s3://buyer-bucket/runs".into(),
        }),
        inputs: vec![NamedBlob {
            name: "digits".into(),
            blob: BlobRef {
                uri: "https://data.example/digits.bin".into(),
                sha256: sha256(&bytes),
                len: bytes.len() as u64,
            },
        }],
    }
}

fn with(edit: impl FnOnce(&mut TrainMlp)) -> TrainMlpSpec {
    let mut s = spec();
    let TrainWorkload::TrainMlp(p) = &mut s.workload;
    edit(p);
    s
}

/// Validation through the bytes, as a worker meets a spec.
fn parse(s: &TrainMlpSpec) -> Result<TrainMlpSpec, SpecError> {
    TrainMlpSpec::from_bytes(&serde_json::to_vec(s).unwrap())
}

#[test]
fn the_documented_json_parses_to_the_settings_it_names() {
    let hash = sha256(&digits_bytes()).to_hex();
    let json = format!(
        r#"{{"version":1,
        "workload":{{"kind":"train-mlp","input":64,"hidden":32,"classes":10,"batch":32,
                    "learning_rate":0.1,"momentum":0.9,"init_seed":1,"data_seed":2,
                    "steps_per_segment":100,"segments":6,
                    "checkpoint_store":"s3://buyer-bucket/runs"}},
        "inputs":[{{"name":"digits","uri":"https://data.example/digits.bin","sha256":"{hash}","len":116825}}]}}"#
    );
    assert_eq!(spec_kind(json.as_bytes()).unwrap(), "train-mlp");
    let parsed = TrainMlpSpec::from_bytes(json.as_bytes()).unwrap();
    assert_eq!(parsed, spec());
    assert_eq!(parsed.config(), gpu_market_compute::train::Config::digits());
    assert_eq!(parsed.start_step(3), Some(300));
    assert_eq!(parsed.data().unwrap().len, 116_825);

    // Canonical bytes round-trip, and their hash is the spec hash of those bytes.
    let bytes = parsed.to_bytes().unwrap();
    assert_eq!(TrainMlpSpec::from_bytes(&bytes).unwrap(), parsed);
    assert_eq!(parsed.hash().unwrap(), sha256(&bytes));
    let text = String::from_utf8(bytes).unwrap();
    assert!(text.contains(r#""kind":"train-mlp""#), "{text}");
    assert!(text.contains(r#""learning_rate":0.1,"#), "{text}");
}

#[test]
fn a_spec_of_another_kind_or_version_is_refused_by_name() {
    let gemm = br#"{"version":1,"workload":{"kind":"gemm-i8","m":1,"n":1,"k":1},"inputs":[]}"#;
    assert_eq!(spec_kind(gemm).unwrap(), "gemm-i8");
    assert!(matches!(
        TrainMlpSpec::from_bytes(gemm),
        Err(SpecError::NotTrainMlp { kind }) if kind == "gemm-i8"
    ));
    let mut s = spec();
    s.version = 2;
    assert!(matches!(
        parse(&s),
        Err(SpecError::UnsupportedVersion { found: 2 })
    ));
    assert!(matches!(
        TrainMlpSpec::from_bytes(b"{\"version\":1}"),
        Err(SpecError::Json(_))
    ));
    assert!(matches!(
        TrainMlpSpec::from_bytes(b"not json"),
        Err(SpecError::Json(_))
    ));
}

/// Attack: a buyer (or a man in the middle of an unsigned copy) adds a field some
/// parser might read and ours would ignore, so two workers would train different runs
/// under one spec hash. Unknown fields are refused at every level.
#[test]
fn unknown_fields_and_missing_fields_are_refused() {
    let good = serde_json::to_value(spec()).unwrap();
    let mut extra_top = good.clone();
    extra_top["priority"] = 1.into();
    let mut extra_workload = good.clone();
    extra_workload["workload"]["weight_decay"] = 0.01.into();
    let mut extra_input = good.clone();
    extra_input["inputs"][0]["mirror"] = "http://x".into();
    let mut missing = good.clone();
    missing["workload"]
        .as_object_mut()
        .unwrap()
        .remove("data_seed");
    let mut wrong_type = good;
    wrong_type["workload"]["segments"] = "six".into();
    for (what, v) in [
        ("top-level field", extra_top),
        ("workload field", extra_workload),
        ("input field", extra_input),
        ("missing data_seed", missing),
        ("segments as a string", wrong_type),
    ] {
        let bytes = serde_json::to_vec(&v).unwrap();
        match TrainMlpSpec::from_bytes(&bytes) {
            Err(SpecError::Json(e)) => eprintln!("{what}: {e}"),
            other => panic!("{what}: {other:?}"),
        }
    }
}

#[test]
fn bad_model_and_optimizer_settings_are_named() {
    type Is = fn(&SpecError) -> bool;
    let cases: [(TrainMlpSpec, Is); 6] = [
        (with(|p| p.hidden = 0), |e| {
            matches!(
                e,
                SpecError::TrainConfig(ConfigError::Width {
                    name: "hidden",
                    value: 0,
                    ..
                })
            )
        }),
        (with(|p| p.input = 5000), |e| {
            matches!(
                e,
                SpecError::TrainConfig(ConfigError::Width { name: "input", .. })
            )
        }),
        (with(|p| p.batch = 0), |e| {
            matches!(
                e,
                SpecError::TrainConfig(ConfigError::Batch { batch: 0, .. })
            )
        }),
        (with(|p| p.learning_rate = 0.0), |e| {
            matches!(e, SpecError::TrainConfig(ConfigError::LearningRate(_)))
        }),
        (with(|p| p.learning_rate = -1.0), |e| {
            matches!(e, SpecError::TrainConfig(ConfigError::LearningRate(_)))
        }),
        (with(|p| p.momentum = 1.0), |e| {
            matches!(e, SpecError::TrainConfig(ConfigError::Momentum(_)))
        }),
    ];
    for (s, is) in cases {
        let e = parse(&s).unwrap_err();
        assert!(is(&e), "{:?}: {e:?}", s.params());
        // The message names the rule.
        assert!(e.to_string().starts_with("train-mlp settings:"), "{e}");
    }
}

#[test]
fn the_segment_plan_must_be_non_empty_and_bounded() {
    assert!(matches!(
        parse(&with(|p| p.steps_per_segment = 0)),
        Err(SpecError::ZeroStepsPerSegment)
    ));
    assert!(matches!(
        parse(&with(|p| p.steps_per_segment = MAX_STEPS_PER_SEGMENT + 1)),
        Err(SpecError::StepsPerSegmentTooLarge { steps, max })
            if steps == MAX_STEPS_PER_SEGMENT + 1 && max == MAX_STEPS_PER_SEGMENT
    ));
    assert!(parse(&with(|p| p.steps_per_segment = MAX_STEPS_PER_SEGMENT)).is_ok());
    for segments in [0, MAX_TRAIN_SEGMENTS + 1] {
        assert!(matches!(
            parse(&with(|p| p.segments = segments)),
            Err(SpecError::SegmentCount { segments: s, .. }) if s == segments
        ));
    }
    assert!(parse(&with(|p| p.segments = MAX_TRAIN_SEGMENTS)).is_ok());
    // The largest plan's last segment still starts within u64.
    let big = with(|p| {
        p.steps_per_segment = MAX_STEPS_PER_SEGMENT;
        p.segments = MAX_TRAIN_SEGMENTS;
    });
    assert!(big.start_step(u32::MAX).is_some());
}

#[test]
fn checkpoint_stores_the_blob_crate_cannot_use_are_refused() {
    let long = format!("s3://b/{}", "p".repeat(MAX_CHECKPOINT_STORE_LEN));
    for (uri, reason) in [
        ("", "empty"),
        (long.as_str(), "longer than"),
        ("s3://bucket/my runs", "whitespace"),
        ("https://h/ckpt?sig=abc", "query"),
        ("https://h/ckpt#x", "query or fragment"),
        ("/var/ckpt", "no scheme"),
        ("file://relative/dir", "absolute directory"),
        ("file:///", "absolute directory"),
        ("ftp://h/ckpt", "unsupported scheme"),
        ("s3://", "no host or bucket"),
        ("https:///path", "no host or bucket"),
    ] {
        match parse(&with(|p| p.checkpoint_store = uri.into())) {
            Err(SpecError::CheckpointStore { reason: r, .. }) => {
                assert!(r.contains(reason), "{uri:?}: {r}")
            }
            other => panic!("{uri:?}: {other:?}"),
        }
    }
    for uri in [
        "file:///var/lib/ckpt",
        "http://127.0.0.1:9000/ckpt/",
        "https://store.example",
        "s3://bucket",
    ] {
        assert!(
            parse(&with(|p| p.checkpoint_store = uri.into())).is_ok(),
            "{uri}"
        );
    }
}

#[test]
fn the_one_data_input_is_required_named_and_sized() {
    let mut none = spec();
    none.inputs.clear();
    assert!(matches!(
        parse(&none),
        Err(SpecError::MissingInput { name }) if name == "digits"
    ));
    let mut other = spec();
    other.inputs[0].name = "train".into();
    assert!(matches!(
        parse(&other),
        Err(SpecError::UnexpectedInput { name }) if name == "train"
    ));
    let mut twice = spec();
    twice.inputs.push(twice.inputs[0].clone());
    assert!(matches!(
        parse(&twice),
        Err(SpecError::DuplicateInput { name }) if name == "digits"
    ));
    let mut no_uri = spec();
    no_uri.inputs[0].blob.uri.clear();
    assert!(matches!(
        parse(&no_uri),
        Err(SpecError::EmptyBlobField { index: 0 })
    ));
    for len in [0, 21, MAX_TRAIN_DATA_BYTES + 1] {
        let mut s = spec();
        s.inputs[0].blob.len = len;
        assert!(
            matches!(parse(&s), Err(SpecError::TrainDataLength { len: l, .. }) if l == len),
            "{len}"
        );
    }
}

/// Attack: a worker is handed other bytes than the spec names (a cheaper data set, a
/// poisoned label). The bytes are refused before any parsing.
#[test]
fn data_bytes_other_than_the_specs_blob_are_refused() {
    let s = spec();
    let good = digits_bytes();
    s.check_data(&good).unwrap();
    let mut poisoned = good.clone();
    let last = poisoned.len() - 1;
    poisoned[last] = (poisoned[last] + 1) % 10;
    match s.check_data(&poisoned) {
        Err(SpecError::TrainDataMismatch {
            expected,
            found,
            len,
        }) => {
            assert_eq!(expected, sha256(&good));
            assert_eq!(found, sha256(&poisoned));
            assert_eq!(len, good.len() as u64);
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        s.check_data(&good[..good.len() - 1]),
        Err(SpecError::TrainDataMismatch { .. })
    ));
    let mut no_data = spec();
    no_data.inputs.clear();
    assert!(matches!(
        no_data.check_data(&good),
        Err(SpecError::MissingInput { .. })
    ));
}
