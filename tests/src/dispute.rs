//! Dispute fixtures: a GEMM job with real inputs and their real commitments, posted,
//! claimed and submitted with an honest or a tampered result, so that a suite can
//! challenge any element and stage its proofs exactly as an auditor and a provider would.

use gpu_market::state::{GemmCommitment, JobRequirements, ProofTree};
use gpu_market::JobSubmitArgs;
use gpu_market_client::dispute as d;
use gpu_market_client::error::Result;
use gpu_market_client::ix::{self, SettleAccounts};
use gpu_market_compute::commit::{self, ElementProof};
use gpu_market_compute::gemm;
use gpu_market_compute::spec::Workload;

use gpu_market_client::{pda, Pubkey};

use crate::{Keypair, ProviderHandle, Signer, Wallet, World};

/// A GEMM's inputs and the output a provider commits to.
#[derive(Clone, Debug)]
pub struct Gemm {
    pub workload: Workload,
    pub a: Vec<u8>,
    pub b: Vec<u8>,
    /// The submitted output (honest unless tampered with).
    pub c: Vec<u8>,
}

/// Deterministic pseudo-random bytes (xorshift), so that fixtures need no RNG crate.
fn bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

impl Gemm {
    /// An exact i8 product: C = A . B.
    pub fn i8(m: u32, n: u32, k: u32, seed: u64) -> Self {
        let (mu, nu, ku) = (m as usize, n as usize, k as usize);
        let a = bytes(seed, mu * ku);
        let b = bytes(seed ^ 0xB, ku * nu);
        let c = gemm::gemm_i8(
            mu,
            nu,
            ku,
            &gemm::i8s_from_bytes(&a),
            &gemm::i8s_from_bytes(&b),
        )
        .expect("shapes agree");
        Gemm {
            workload: Workload::GemmI8 { m, n, k },
            a,
            b,
            c: gemm::i32s_to_le_bytes(&c),
        }
    }

    /// An f32 product computed by the CPU executor's GEMM (its own summation order).
    pub fn f32(m: u32, n: u32, k: u32, seed: u64) -> Self {
        let (mu, nu, ku) = (m as usize, n as usize, k as usize);
        let to_f32 =
            |raw: Vec<u8>| -> Vec<f32> { raw.iter().map(|&v| (v as i8) as f32 / 37.0).collect() };
        let (af, bf) = (
            to_f32(bytes(seed, mu * ku)),
            to_f32(bytes(seed ^ 0xB, ku * nu)),
        );
        let c = gemm::gemm_f32(mu, nu, ku, &af, &bf).expect("shapes agree");
        Gemm {
            workload: Workload::GemmF32 {
                m,
                n,
                k,
                rel_tolerance: 1e-4,
            },
            a: gemm::f32s_to_le_bytes(&af),
            b: gemm::f32s_to_le_bytes(&bf),
            c: gemm::f32s_to_le_bytes(&c),
        }
    }

    pub fn dims(&self) -> (u32, u32, u32) {
        self.workload.gemm_dims().expect("a GEMM")
    }

    pub fn elem_bytes(&self) -> u32 {
        match self.workload {
            Workload::GemmI8 { .. } => 1,
            _ => 4,
        }
    }

    /// Overwrites C[row][col] with `bytes` (little-endian i32 or f32 bits).
    pub fn set_output(&mut self, row: u32, col: u32, bytes: [u8; 4]) {
        let (_, n, _) = self.dims();
        let at = (row as usize * n as usize + col as usize) * 4;
        self.c[at..at + 4].copy_from_slice(&bytes);
    }

    pub fn output(&self, row: u32, col: u32) -> [u8; 4] {
        let (_, n, _) = self.dims();
        let at = (row as usize * n as usize + col as usize) * 4;
        self.c[at..at + 4].try_into().unwrap()
    }

    pub fn commitment(&self) -> GemmCommitment {
        let roots = commit::gemm_input_roots(&self.workload, &self.a, &self.b).unwrap();
        let (m, n, k) = self.dims();
        GemmCommitment {
            m,
            n,
            k,
            a_root: roots.a_root.0,
            b_root: roots.b_root.0,
        }
    }

    pub fn result_root(&self) -> [u8; 32] {
        commit::result_root(&self.workload, &self.c).unwrap().0
    }

    pub fn proof(&self, row: u32, col: u32) -> ElementProof {
        commit::proof_for_element(&self.workload, &self.a, &self.b, &self.c, row, col).unwrap()
    }
}

/// A submitted GEMM job and its parties, ready to be challenged.
pub struct Case {
    pub gemm: Gemm,
    pub job: Pubkey,
    pub buyer: Wallet,
    pub provider: ProviderHandle,
    pub price: u64,
}

pub const PRICE: u64 = 1_000;
pub const PROVIDER_STAKE: u64 = 10_000;

impl World {
    /// Posts `gemm`'s job with its commitment, has a fresh provider claim it, and submits
    /// `gemm.c`'s root (so a tampered `c` is a cheating provider).
    pub async fn submitted_gemm(&self, gemm: Gemm, nonce: u64) -> Case {
        let provider = self.register_provider(crate::h100(), PROVIDER_STAKE).await;
        let buyer = self.wallet(100_000, 0).await;
        let args = gpu_market::JobPostArgs {
            workload: gemm.workload.kind_code(),
            requirements: JobRequirements::default(),
            gemm: Some(gemm.commitment()),
            ..self.post_args(nonce, PRICE, self.now().await + 3_600)
        };
        let (post, job) = ix::job_post(&self.market, buyer.pubkey(), buyer.payment, args);
        self.send(&[post], &[&buyer.key]).await.expect("job_post");
        self.claim(&provider, &job).await.expect("job_claim");
        let submit = ix::job_submit(
            provider.key,
            job,
            provider.worker.pubkey(),
            JobSubmitArgs {
                result_root: gemm.result_root(),
                result_uri: "blob://result".into(),
                gpu_ms: 0,
            },
        );
        self.send(&[submit], &[&provider.worker])
            .await
            .expect("job_submit");
        Case {
            gemm,
            job,
            buyer,
            provider,
            price: PRICE,
        }
    }

    /// `challenger` challenges C[row][col] of the case's job; returns the dispute.
    pub async fn challenge(
        &self,
        case: &Case,
        challenger: &Wallet,
        row: u32,
        col: u32,
    ) -> Result<Pubkey> {
        d::challenge(
            &self.sender,
            &self.authority,
            &self.market,
            &case.job,
            &challenger.key,
            challenger.payment,
            challenger.stake,
            row,
            col,
        )
        .await
    }

    /// Stages one leaf with `payer` paying its buffer.
    pub async fn stage(
        &self,
        case: &Case,
        dispute: &Pubkey,
        payer: &Keypair,
        tree: ProofTree,
        leaf: &[u8],
        path: &[[u8; 32]],
    ) -> Result<usize> {
        d::stage_leaf(&self.sender, payer, &case.job, dispute, tree, leaf, path).await
    }

    /// The challenger's side: the row of A and the column of B, then the dot product.
    pub async fn stage_inputs(
        &self,
        case: &Case,
        dispute: &Pubkey,
        challenger: &Wallet,
        p: &ElementProof,
    ) {
        self.stage(
            case,
            dispute,
            &challenger.key,
            ProofTree::A,
            &p.a_row,
            &p.a_proof,
        )
        .await
        .expect("stage row of A");
        self.stage(
            case,
            dispute,
            &challenger.key,
            ProofTree::B,
            &p.b_col,
            &p.b_proof,
        )
        .await
        .expect("stage column of B");
        let (_, _, k) = case.gemm.dims();
        d::absorb_all(
            &self.sender,
            &challenger.key,
            &case.job,
            dispute,
            k,
            case.gemm.elem_bytes(),
        )
        .await
        .expect("absorb");
    }

    /// The provider's side: its row of C (its worker pays the buffer).
    pub async fn reveal(&self, case: &Case, dispute: &Pubkey, p: &ElementProof) -> Result<usize> {
        self.stage(
            case,
            dispute,
            &case.provider.worker,
            ProofTree::C,
            &p.c_row,
            &p.c_proof,
        )
        .await
    }

    pub async fn settle(&self, case: &Case, dispute: &Pubkey, settler: &Wallet) -> Result<()> {
        self.settle_job(&case.job, dispute, settler).await
    }

    /// Settles the dispute of job `job` with `settler` taking the crank bounty.
    pub async fn settle_job(&self, job: &Pubkey, dispute: &Pubkey, settler: &Wallet) -> Result<()> {
        d::settle(
            &self.sender,
            &settler.key,
            &self.market,
            job,
            dispute,
            &SettleAccounts {
                settler: settler.pubkey(),
                settler_payment_account: settler.payment,
            },
        )
        .await
    }
}

/// Provokes every dispute error the program names, each by the move that breaks its rule,
/// and returns their names (the named-error suite counts them).
pub async fn provoke_dispute_errors(w: &World) -> Vec<&'static str> {
    use anchor_lang::{AccountDeserialize, AccountSerialize};
    use gpu_market::state::Dispute;
    use gpu_market_client::chain::Chain;

    let mut hit: Vec<&'static str> = Vec::new();
    let buyer = w.wallet(100_000, 0).await;
    let t = w.now().await;
    let post = |args| ix::job_post(&w.market, buyer.pubkey(), buyer.payment, args).0;
    let args = |nonce| w.post_args(nonce, 100, t + 3_600);

    // Posting: a GEMM job says what it would be ruled against, within what can be staged.
    let missing = gpu_market::JobPostArgs {
        gemm: None,
        ..args(900)
    };
    named(
        &mut hit,
        w.send(&[post(missing)], &[&buyer.key]).await,
        "GemmCommitmentMissing",
    );
    let kernel_with_roots = gpu_market::JobPostArgs {
        workload: 3,
        ..args(901)
    };
    named(
        &mut hit,
        w.send(&[post(kernel_with_roots)], &[&buyer.key]).await,
        "GemmCommitmentUnexpected",
    );
    let flat = gpu_market::JobPostArgs {
        gemm: Some(GemmCommitment {
            k: 0,
            ..crate::placeholder_gemm()
        }),
        ..args(902)
    };
    named(
        &mut hit,
        w.send(&[post(flat)], &[&buyer.key]).await,
        "GemmShapeInvalid",
    );
    let wide = gpu_market::JobPostArgs {
        gemm: Some(GemmCommitment {
            n: (1 << 18) + 1,
            ..crate::placeholder_gemm()
        }),
        ..args(903)
    };
    named(
        &mut hit,
        w.send(&[post(wide)], &[&buyer.key]).await,
        "GemmShapeInvalid",
    );

    // A gemm-bf16 result: reserved, no executor, so neither a ruling nor referees.
    let p = w.register_provider(crate::h100(), PROVIDER_STAKE).await;
    let kernel = gpu_market::JobPostArgs {
        workload: 2,
        gemm: None,
        ..args(904)
    };
    let (kpost, kjob) = ix::job_post(&w.market, buyer.pubkey(), buyer.payment, kernel);
    w.send(&[kpost], &[&buyer.key]).await.unwrap();
    w.claim(&p, &kjob).await.unwrap();
    w.submit(&p, &kjob, 0).await.unwrap();
    let challenger = w.wallet(100_000, 0).await;
    let kcase = Case {
        gemm: Gemm::i8(1, 1, 1, 0),
        job: kjob,
        buyer: w.wallet(0, 0).await,
        provider: p,
        price: 100,
    };
    named(
        &mut hit,
        w.challenge(&kcase, &challenger, 0, 0).await,
        "DisputeUnsupportedWorkload",
    );

    // One dispute, staged step by step out of order.
    let case = w.submitted_gemm(Gemm::i8(2, 2, 4, 11), 905).await;
    named(
        &mut hit,
        w.challenge(&case, &challenger, 2, 0).await,
        "GemmShapeInvalid",
    );
    let dispute = w.challenge(&case, &challenger, 0, 0).await.unwrap();
    named(
        &mut hit,
        w.challenge(&case, &challenger, 1, 1).await,
        "DisputeAlreadyOpen",
    );
    let settler = w.wallet(0, 0).await;
    named(
        &mut hit,
        w.settle(&case, &dispute, &settler).await,
        "DisputeNotReady",
    );
    let proof = case.gemm.proof(0, 0);
    let ch = &challenger.key;
    for tree in [ProofTree::A, ProofTree::B] {
        let open = ix::proof_open(ch.pubkey(), case.job, dispute, tree);
        w.send(&[open], &[ch]).await.unwrap();
    }
    let absorb = |count| ix::dispute_absorb(case.job, dispute, count);
    named(
        &mut hit,
        w.send(&[absorb(4)], &[]).await,
        "ProofNotVerified",
    );
    let write = |tree, offset, bytes: &[u8]| {
        ix::proof_write(ch.pubkey(), dispute, tree, offset, bytes.to_vec())
    };
    named(
        &mut hit,
        w.send(&[write(ProofTree::A, 4, &[1])], &[ch]).await,
        "ProofWriteOutOfBounds",
    );
    let verify = |tree, path: &[[u8; 32]]| ix::proof_verify(case.job, dispute, tree, path.to_vec());
    named(
        &mut hit,
        w.send(&[verify(ProofTree::A, &proof.a_proof)], &[]).await,
        "ProofLengthMismatch",
    );
    w.send(&[write(ProofTree::A, 0, &proof.a_row)], &[ch])
        .await
        .unwrap();
    named(
        &mut hit,
        w.send(&[verify(ProofTree::A, &proof.b_proof)], &[]).await,
        "ProofPathInvalid",
    );
    w.send(&[verify(ProofTree::A, &proof.a_proof)], &[])
        .await
        .unwrap();
    named(
        &mut hit,
        w.send(&[write(ProofTree::A, 1, &proof.a_row[1..2])], &[ch])
            .await,
        "ProofAlreadyVerified",
    );
    w.send(&[write(ProofTree::B, 0, &proof.b_col)], &[ch])
        .await
        .unwrap();
    w.send(&[verify(ProofTree::B, &proof.b_proof)], &[])
        .await
        .unwrap();

    // A corrupted accumulator (as a bug or a bad upgrade would leave it) is refused, not
    // ruled on.
    let key = dispute;
    let honest = w.chain.get_account(&key).await.unwrap().unwrap();
    let mut state = Dispute::try_deserialize(&mut &honest.data[..]).unwrap();
    let chunk: i64 = proof
        .a_row
        .iter()
        .zip(&proof.b_col)
        .map(|(&x, &y)| (x as i8 as i64) * (y as i8 as i64))
        .sum();
    let edge = if chunk >= 0 { i64::MAX } else { i64::MIN };
    state.acc[4..12].copy_from_slice(&edge.to_le_bytes());
    if chunk == 0 {
        state.acc[4..12].copy_from_slice(&0i64.to_le_bytes());
    }
    let mut data = Vec::new();
    state.try_serialize(&mut data).unwrap();
    data.resize(honest.data.len(), 0);
    w.chain
        .set_account(
            &key,
            solana_sdk::account::Account {
                data,
                ..honest.clone()
            },
        )
        .await;
    if chunk != 0 {
        named(
            &mut hit,
            w.send(&[absorb(3)], &[]).await,
            "RulingInputInvalid",
        );
    }
    w.chain.set_account(&key, honest).await;
    w.send(&[absorb(4)], &[]).await.unwrap();
    named(&mut hit, w.send(&[absorb(1)], &[]).await, "NothingToAbsorb");
    named(
        &mut hit,
        w.send(&[ix::proof_close(ch.pubkey(), dispute, ProofTree::A)], &[])
            .await,
        "ProofBufferInUse",
    );

    // Accounts of another dispute, and a substituted challenger.
    let other = w.submitted_gemm(Gemm::i8(2, 2, 4, 12), 906).await;
    let other_dispute = w.challenge(&other, &challenger, 1, 1).await.unwrap();
    named(
        &mut hit,
        w.send(
            &[mixed_verify(
                case.job,
                other_dispute,
                pda::proof_buffer(&dispute, ProofTree::A),
            )],
            &[],
        )
        .await,
        "WrongDispute",
    );
    let job = w.job(&case.job).await;
    let provider = w.provider(&job.provider).await;
    let mut forged = gpu_market_client::accounts::fetch_dispute(&*w.chain, &dispute)
        .await
        .unwrap();
    forged.challenger = settler.pubkey();
    let settle_as = |d: &Dispute| {
        ix::dispute_settle(
            &w.market,
            case.job,
            &job,
            &provider,
            dispute,
            d,
            &SettleAccounts {
                settler: settler.pubkey(),
                settler_payment_account: settler.payment,
            },
        )
    };
    named(
        &mut hit,
        w.send(&[settle_as(&forged)], &[&settler.key]).await,
        "WrongChallenger",
    );

    // Past the response deadline, nothing more is staged; past the challenge window,
    // nothing is challenged.
    let deadline = gpu_market_client::accounts::fetch_dispute(&*w.chain, &dispute)
        .await
        .unwrap()
        .respond_deadline;
    w.set_time(deadline + 1).await;
    named(
        &mut hit,
        w.send(
            &[ix::proof_open(ch.pubkey(), case.job, dispute, ProofTree::C)],
            &[ch],
        )
        .await,
        "DisputeWindowClosed",
    );
    let late = w.submitted_gemm(Gemm::i8(2, 2, 4, 13), 907).await;
    let window = w.job(&late.job).await.challenge_deadline;
    w.set_time(window + 1).await;
    named(
        &mut hit,
        w.challenge(&late, &challenger, 0, 0).await,
        "ChallengeWindowClosed",
    );
    // Settle what is open, so the books the caller checks are closed.
    w.settle(&case, &dispute, &settler).await.unwrap();
    w.settle(&other, &other_dispute, &settler).await.unwrap();
    hit
}

#[track_caller]
fn named<T: std::fmt::Debug>(hit: &mut Vec<&'static str>, r: Result<T>, name: &'static str) {
    crate::assert_err(r, name);
    hit.push(name);
}

/// `proof_verify` with its accounts as given (the builder derives the buffer from the
/// dispute, so it cannot mix two disputes' accounts).
fn mixed_verify(
    job: Pubkey,
    dispute: Pubkey,
    buffer: Pubkey,
) -> solana_sdk::instruction::Instruction {
    use anchor_lang::{InstructionData, ToAccountMetas};
    solana_sdk::instruction::Instruction {
        program_id: gpu_market::ID,
        accounts: gpu_market::accounts::ProofVerify {
            job,
            dispute,
            buffer,
        }
        .to_account_metas(None),
        data: gpu_market::instruction::ProofVerify {
            args: gpu_market::ProofVerifyArgs { path: vec![] },
        }
        .data(),
    }
}
