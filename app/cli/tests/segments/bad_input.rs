//! The refusals table: each bad post, extension and end gets its named error, exits
//! with 2, and sends nothing (the buyer's balance unchanged, no job account).

use gpu_market_client::chain::Chain;
use gpu_market_client::{pda, MarketError, Pubkey};
use gpu_market_compute::spec::SpecError;
use gpu_market_compute::train::data::BUNDLED_DIGITS_SHA256;
use gpu_market_compute::train::Digits;
use gpumkt::error::SegmentInputError;
use gpumkt::CliError;

use crate::{s, User, World, BOUNTY};

/// What a refused command's error must match.
type Check = Box<dyn Fn(&CliError) -> bool>;

/// Each refused post, extension and end gets its named error and sends nothing: the
/// buyer's balance is unchanged and no job account exists for the nonce.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_segmented_input_gets_its_named_error_and_sends_nothing() {
    let w = World::new().await;
    let store = w.store();
    let me = w.buyer.pubkey();
    let dir = w.dir.path();
    let gemm_spec = dir.join("gemm.json");
    std::fs::write(
        &gemm_spec,
        r#"{"version":1,"workload":{"kind":"gemm-i8","m":4,"n":4,"k":4},"inputs":[]}"#,
    )
    .unwrap();
    let digits = std::fs::read(Digits::bundled_path()).unwrap();
    let train_spec = dir.join("train.json");
    std::fs::write(
        &train_spec,
        serde_json::json!({
            "version": 1,
            "workload": {"kind": "train-mlp", "input": 64, "hidden": 32, "classes": 10,
                "batch": 32, "learning_rate": 0.1, "momentum": 0.9, "init_seed": 1,
                "data_seed": 2, "steps_per_segment": 10, "segments": 2,
                "checkpoint_store": store},
            "inputs": [{"name": "digits", "uri": "file:///nowhere/digits",
                "sha256": BUNDLED_DIGITS_SHA256, "len": digits.len()}],
        })
        .to_string(),
    )
    .unwrap();
    let garbage = dir.join("garbage.bin");
    std::fs::write(&garbage, b"not a digits file at all").unwrap();
    let (gemm, train, garbage) = (
        gemm_spec.display().to_string(),
        train_spec.display().to_string(),
        garbage.display().to_string(),
    );

    let refused = |rule: MarketError| move |e: &CliError| matches!(e, CliError::Segments(SegmentInputError::Refused { rule: r }) if *r == rule);
    let base = |extra: &[&'static str]| {
        let mut v: Vec<String> = ["job", "post", "--checkpoint-store", &store, "--nonce", "9"]
            .into_iter()
            .map(String::from)
            .collect();
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    let cases: Vec<(&str, Vec<String>, Check)> = vec![
        (
            "no segments",
            base(&["--segments", "0", "--segment-price", "10"]),
            Box::new(refused(MarketError::SegmentsEmpty)),
        ),
        (
            "over MAX_SEGMENTS",
            base(&["--segments", "33", "--segment-price", "10"]),
            Box::new(refused(MarketError::TooManySegments)),
        ),
        (
            "a zero price",
            base(&["--segments", "2", "--segment-price", "10,0"]),
            Box::new(refused(MarketError::PriceZero)),
        ),
        (
            "a duration shorter than the market's submit window",
            base(&[
                "--segments",
                "2",
                "--segment-price",
                "10",
                "--segment-duration",
                "60",
            ]),
            Box::new(refused(MarketError::SegmentDurationInvalid)),
        ),
        (
            "a price list of the wrong length",
            base(&["--segments", "2", "--segment-price", "10,20,30"]),
            Box::new(|e: &CliError| {
                matches!(
                    e,
                    CliError::Segments(SegmentInputError::TermsListLength {
                        flag: "--segment-price",
                        given: 3,
                        segments: 2
                    })
                )
            }),
        ),
        (
            "no segment price",
            base(&["--segments", "2"]),
            Box::new(|e: &CliError| {
                matches!(
                    e,
                    CliError::Segments(SegmentInputError::SegmentPriceRequired)
                )
            }),
        ),
        (
            "a GEMM workload in segments",
            [
                "job",
                "post",
                "--workload",
                "gemm-i8",
                "--segments",
                "2",
                "--segment-price",
                "10",
            ]
            .map(String::from)
            .to_vec(),
            Box::new(
                |e: &CliError| matches!(e, CliError::Segments(SegmentInputError::NotSegmentable { kind }) if kind == "gemm-i8"),
            ),
        ),
        (
            "a GEMM spec file in segments",
            [
                "job",
                "post",
                "--spec",
                &gemm,
                "--segments",
                "2",
                "--segment-price",
                "10",
            ]
            .map(String::from)
            .to_vec(),
            Box::new(
                |e: &CliError| matches!(e, CliError::Segments(SegmentInputError::NotSegmentable { kind }) if kind == "gemm-i8"),
            ),
        ),
        (
            "train-mlp without segments",
            ["job", "post", "--workload", "train-mlp", "--price", "10"]
                .map(String::from)
                .to_vec(),
            Box::new(|e: &CliError| {
                matches!(e, CliError::Segments(SegmentInputError::SegmentsRequired))
            }),
        ),
        (
            "a train-mlp spec file without segments",
            ["job", "post", "--spec", &train, "--price", "10"]
                .map(String::from)
                .to_vec(),
            Box::new(|e: &CliError| {
                matches!(e, CliError::Segments(SegmentInputError::SegmentsRequired))
            }),
        ),
        (
            "a spec planning 2 segments posted as 3",
            [
                "job",
                "post",
                "--spec",
                &train,
                "--segments",
                "3",
                "--segment-price",
                "10",
            ]
            .map(String::from)
            .to_vec(),
            Box::new(|e: &CliError| {
                matches!(
                    e,
                    CliError::Segments(SegmentInputError::SpecSegmentsDisagree {
                        spec: 2,
                        flag: 3,
                        ..
                    })
                )
            }),
        ),
        (
            "no checkpoint store",
            ["job", "post", "--segments", "2", "--segment-price", "10"]
                .map(String::from)
                .to_vec(),
            Box::new(|e: &CliError| {
                matches!(
                    e,
                    CliError::Segments(SegmentInputError::CheckpointStoreRequired)
                )
            }),
        ),
        (
            "an unsupported checkpoint store scheme",
            [
                "job",
                "post",
                "--segments",
                "2",
                "--segment-price",
                "10",
                "--checkpoint-store",
                "ftp://host/ckpt",
            ]
            .map(String::from)
            .to_vec(),
            Box::new(|e: &CliError| {
                matches!(
                    e,
                    CliError::Segments(SegmentInputError::Spec(SpecError::CheckpointStore { .. }))
                )
            }),
        ),
        (
            "a relative file checkpoint store",
            [
                "job",
                "post",
                "--segments",
                "2",
                "--segment-price",
                "10",
                "--checkpoint-store",
                "file://ckpt",
            ]
            .map(String::from)
            .to_vec(),
            Box::new(|e: &CliError| {
                matches!(
                    e,
                    CliError::Segments(SegmentInputError::Spec(SpecError::CheckpointStore { .. }))
                )
            }),
        ),
        (
            "a batch larger than the training data",
            base(&[
                "--segments",
                "2",
                "--segment-price",
                "10",
                "--batch",
                "5000",
            ]),
            Box::new(|e: &CliError| {
                matches!(
                    e,
                    CliError::Segments(SegmentInputError::Spec(SpecError::TrainConfig(_)))
                )
            }),
        ),
        (
            "training data that is not a digits file",
            {
                let mut v = base(&["--segments", "2", "--segment-price", "10", "--data"]);
                v.push(garbage.clone());
                v
            },
            Box::new(|e: &CliError| {
                matches!(e, CliError::Segments(SegmentInputError::Data { .. }))
            }),
        ),
        (
            "training data that does not exist",
            base(&[
                "--segments",
                "2",
                "--segment-price",
                "10",
                "--data",
                "/nonexistent/digits.bin",
            ]),
            Box::new(|e: &CliError| matches!(e, CliError::ReadFile { .. })),
        ),
        (
            "an escrow above --max-escrow",
            base(&[
                "--segments",
                "2",
                "--segment-price",
                "10",
                "--max-escrow",
                "29",
            ]),
            Box::new(|e: &CliError| {
                matches!(
                    e,
                    CliError::EscrowAboveMax {
                        escrow: 30,
                        max: 29,
                        ..
                    }
                )
            }),
        ),
        (
            "an escrow above the balance",
            base(&["--segments", "2", "--segment-price", "60000"]),
            Box::new(|e: &CliError| {
                matches!(
                    e,
                    CliError::InsufficientBalance {
                        need: 120_010,
                        have: 100_000,
                        ..
                    }
                )
            }),
        ),
    ];
    let job9 = pda::job(&w.market, &me, 9);
    for (what, args, check) in &cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let e = w.buyer.try_run(&args).await.expect_err(what);
        assert!(check(&e), "{what}: got {e:?}");
        assert_eq!(e.exit_code(), 2, "{what}: {e}");
        assert_eq!(w.balance(&me).await, 100_000, "{what}: money moved");
        assert!(
            w.chain.get_account(&job9).await.unwrap().is_none(),
            "{what}: a job was posted"
        );
    }

    // The spec file itself is fine: posted as its 2 segments it goes through.
    let posted = w
        .buyer
        .run(&[
            "job",
            "post",
            "--spec",
            &train,
            "--segments",
            "2",
            "--segment-price",
            "10",
            "--nonce",
            "10",
        ])
        .await;
    let job: Pubkey = s(&posted, "job").parse().unwrap();
    assert_eq!(w.balance(&me).await, 100_000 - 2 * (10 + BOUNTY));
    let before = w.balance(&me).await;

    // Extensions and ends refused before sending.
    let other = w.user().await;
    w.mint_to(&other.pubkey(), 1_000).await;
    let job_s = job.to_string();
    let single = w
        .buyer
        .run(&[
            "job",
            "post",
            "--workload",
            "gemm-i8",
            "--m",
            "4",
            "--n",
            "4",
            "--k",
            "4",
            "--price",
            "10",
            "--nonce",
            "11",
        ])
        .await;
    let single = s(&single, "job");
    let before = before - (10 + BOUNTY);
    assert_eq!(w.balance(&me).await, before);
    let refusals: Vec<(&str, &User, Vec<&str>, Check)> = vec![
        (
            "someone else's job extended",
            &other,
            vec!["job", "extend", &job_s, "--segments", "1"],
            Box::new(|e: &CliError| matches!(e, CliError::NotYourJob { .. })),
        ),
        (
            "someone else's job ended",
            &other,
            vec!["job", "end", &job_s],
            Box::new(|e: &CliError| matches!(e, CliError::NotYourJob { .. })),
        ),
        (
            "a single job extended",
            &w.buyer,
            vec!["job", "extend", &single, "--segments", "1"],
            Box::new(|e: &CliError| matches!(e, CliError::NotSegmented { state: "open", .. })),
        ),
        (
            "a single job ended",
            &w.buyer,
            vec!["job", "end", &single],
            Box::new(|e: &CliError| matches!(e, CliError::NotSegmented { .. })),
        ),
        (
            "extended past MAX_SEGMENTS",
            &w.buyer,
            vec!["job", "extend", &job_s, "--segments", "31"],
            Box::new(refused(MarketError::TooManySegments)),
        ),
        (
            "extended by nothing",
            &w.buyer,
            vec!["job", "extend", &job_s, "--segments", "0"],
            Box::new(refused(MarketError::SegmentsEmpty)),
        ),
        (
            "an extension above --max-escrow",
            &w.buyer,
            vec![
                "job",
                "extend",
                &job_s,
                "--segments",
                "2",
                "--max-escrow",
                "10",
            ],
            Box::new(|e: &CliError| {
                matches!(
                    e,
                    CliError::EscrowAboveMax {
                        escrow: 30,
                        max: 10,
                        ..
                    }
                )
            }),
        ),
        (
            "an extension above the balance",
            &w.buyer,
            vec![
                "job",
                "extend",
                &job_s,
                "--segments",
                "2",
                "--segment-price",
                "60000",
            ],
            Box::new(|e: &CliError| matches!(e, CliError::InsufficientBalance { .. })),
        ),
    ];
    let other_before = w.balance(&other.pubkey()).await;
    for (what, user, args, check) in &refusals {
        let e = user.try_run(args).await.expect_err(what);
        assert!(check(&e), "{what}: got {e:?}");
        assert_eq!(e.exit_code(), 2, "{what}: {e}");
        assert_eq!(w.balance(&me).await, before, "{what}: money moved");
        assert_eq!(w.balance(&other.pubkey()).await, other_before, "{what}");
    }
    assert_eq!(w.segments(&job).await.count, 2);

    // Past the job's deadline no extension is accepted (JobDeadlinePassed, unsent).
    w.chain.advance(3_601).await.unwrap();
    let e = w
        .buyer
        .try_run(&["job", "extend", &job_s, "--segments", "1"])
        .await
        .unwrap_err();
    assert!(refused(MarketError::JobDeadlinePassed)(&e), "{e:?}");
    assert_eq!(w.balance(&me).await, before);
    // Ending with nothing started refunds everything, exactly; the job then closes.
    let ended = w.buyer.run(&["job", "end", &job_s]).await;
    assert_eq!(ended["refunded"], 2 * (10 + BOUNTY));
    assert_eq!(w.balance(&me).await, before + 2 * (10 + BOUNTY));
    assert!(w.chain.get_account(&job).await.unwrap().is_none());
}
