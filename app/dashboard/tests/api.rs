//! Every endpoint of the dashboard's API against a market on the localnet whose
//! transactions went through the node's JSON-RPC: the figures equal the audit's
//! (`audit::stats` over `audit::Snapshot`, the code `gpumkt audit stats` prints) at the
//! same chain state, jobs are listed live and from history, a correct result and a
//! cheated one are told apart by the auditor's check, blobs go in and out, and every
//! unknown key, malformed parameter and oversized body is refused by name.

mod common;

use common::*;
use gpu_market_client::{audit, Pubkey};
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_endpoint_answers_from_chain_state_and_history() {
    let m = market().await;
    let d = m.dashboard(&m.net.rpc_url, None).await;
    let u = |p: &str| format!("{}{p}", d.url);
    let market = m.world.market.market.to_string();

    // Stats: exactly the audit's figures (the clock is manual: one state, one value).
    let snap = audit::Snapshot::load(&*m.rpc, &m.world.market.market)
        .await
        .unwrap();
    let expected_text = serde_json::to_string(&audit::stats(&snap)).unwrap();
    let body = reqwest::get(u("/api/stats"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    // Byte for byte: the same struct serialized, f64 digits included.
    assert_eq!(body, expected_text);
    let expected: Value = serde_json::from_str(&expected_text).unwrap();
    let stats: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(stats["jobs_completed"], 1);
    assert_eq!(stats["jobs_posted"], 4);
    assert!(stats["volume_paid"].as_u64().unwrap() > 0);

    let cfg = ok(&u("/api/config")).await;
    assert_eq!(cfg["market"], market);
    assert_eq!(cfg["program_id"], gpu_market::ID.to_string());
    assert_eq!(cfg["payment_mint"], m.world.payment_mint.to_string());
    assert_eq!(cfg["payment_decimals"], 6);
    assert_eq!(cfg["idl_url"], "/api/idl");
    let idl = ok(&u("/api/idl")).await;
    assert!(idl["instructions"]
        .as_array()
        .unwrap()
        .iter()
        .any(|i| i["name"] == "job_post"));

    // Providers: the audit's ProviderStats, one page each.
    let providers = ok(&u("/api/providers")).await;
    assert_eq!(providers["providers"], expected["providers"]);
    assert_eq!(providers["unix_timestamp"], expected["unix_timestamp"]);
    let pk = m.provider.key.to_string();
    let p = ok(&u(&format!("/api/providers/{pk}"))).await;
    assert_eq!(p["provider"]["provider"], pk);
    assert_eq!(p["provider"]["completed"], 1);
    assert_eq!(p["account"]["stake"], 100_000);
    assert_eq!(p["account"]["gpu"]["count"], 2);
    let provider_jobs: Vec<&str> = p["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["job"].as_str().unwrap())
        .collect();
    assert_eq!(provider_jobs.len(), 3, "{provider_jobs:?}");
    assert!(provider_jobs.contains(&m.finalized.to_string().as_str()));
    let names: Vec<&str> = p["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"ProviderRegistered") && names.contains(&"JobFinalized"),
        "{names:?}"
    );

    // Jobs: three live, the finalized one from history with the URIs of its transactions.
    let jobs = ok(&u("/api/jobs")).await;
    let list = jobs["jobs"].as_array().unwrap();
    assert_eq!(list.len(), 4);
    let fin = list
        .iter()
        .find(|j| j["job"] == m.finalized.to_string())
        .unwrap();
    assert_eq!(fin["state"], "finalized");
    assert_eq!(fin["settled"], true);
    assert_eq!(fin["provider"], pk);
    assert_eq!(fin["gpu_ms"], 1_500);
    assert!(fin["spec_uri"].as_str().unwrap().starts_with("file://"));
    assert!(fin["result_uri"].as_str().unwrap().starts_with("file://"));
    let only = |q: &str| {
        let url = u(&format!("/api/jobs?{q}"));
        async move {
            let v = ok(&url).await;
            v["jobs"]
                .as_array()
                .unwrap()
                .iter()
                .map(|j| j["job"].as_str().unwrap().to_string())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(only("state=open").await, [m.open.to_string()]);
    assert_eq!(only("state=finalized").await, [m.finalized.to_string()]);
    assert_eq!(only("state=submitted").await.len(), 2);
    assert_eq!(only(&format!("provider={pk}&limit=2")).await.len(), 2);
    assert_eq!(only(&format!("buyer={}", m.buyer.pubkey())).await.len(), 4);
    assert!(only(&format!("buyer={}", Pubkey::new_unique()))
        .await
        .is_empty());

    // One job: live with its account, or settled with account null; its timeline.
    let j = ok(&u(&format!("/api/jobs/{}", m.submitted))).await;
    assert_eq!(j["job"]["state"], "submitted");
    assert_eq!(j["account"]["state"], "submitted");
    assert_eq!(j["verification"]["status"], "unchecked");
    let timeline: Vec<&str> = j["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(timeline, ["JobPosted", "JobClaimed", "JobSubmitted"]);
    let f = ok(&u(&format!("/api/jobs/{}", m.finalized))).await;
    assert_eq!(f["account"], Value::Null);
    let timeline: Vec<&str> = f["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(
        timeline,
        ["JobPosted", "JobClaimed", "JobSubmitted", "JobFinalized"]
    );
    assert!(f["timeline"][3]["signature"].as_str().unwrap().len() > 60);

    // The auditor's check through the API: right, wrong (the changed element named),
    // and a settled job checked from its history; the verdict is remembered.
    let (s, v) = post_body(&u(&format!("/api/jobs/{}/verify", m.submitted)), vec![]).await;
    assert_eq!((s, v["status"].as_str()), (200, Some("correct")), "{v}");
    let (s, v) = post_body(&u(&format!("/api/jobs/{}/verify", m.cheated)), vec![]).await;
    assert_eq!((s, v["status"].as_str()), (200, Some("wrong")), "{v}");
    assert!(v["detail"].as_str().unwrap().contains("C[1][1]"), "{v}");
    let (s, v) = post_body(&u(&format!("/api/jobs/{}/verify", m.finalized)), vec![]).await;
    assert_eq!((s, v["status"].as_str()), (200, Some("correct")), "{v}");
    let (s, v) = post_body(&u(&format!("/api/jobs/{}/verify", m.open)), vec![]).await;
    assert_eq!((s, v["status"].as_str()), (200, Some("unavailable")), "{v}");
    let j = ok(&u(&format!("/api/jobs/{}", m.cheated))).await;
    assert_eq!(j["verification"]["status"], "wrong");

    // Result download, checked against the root; none before a result.
    let r = reqwest::get(u(&format!("/api/jobs/{}/result", m.finalized)))
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.bytes().await.unwrap().len(), 8 * 8 * 4);
    assert_error(
        &get(&u(&format!("/api/jobs/{}/result", m.open))).await,
        404,
        "no_result",
        &m.open.to_string(),
    );

    // Series over the events.
    let util = ok(&u("/api/series/utilization?bucket=3600")).await;
    let points = util["points"].as_array().unwrap();
    assert_eq!(util["bucket"], 3600);
    let sold: f64 = points
        .iter()
        .map(|p| p["gpu_seconds_sold"].as_f64().unwrap())
        .sum();
    assert_eq!(sold, 1.5);
    assert!(points
        .iter()
        .all(|p| p["gpu_seconds_capacity"].as_f64().unwrap() >= 0.0));
    let earn = ok(&u("/api/series/earnings")).await;
    let mine = earn["providers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["provider"] == pk)
        .unwrap();
    let last = mine["points"].as_array().unwrap().last().unwrap();
    assert_eq!(last["cumulative_revenue"], p["provider"]["revenue"]);
    let flow = ok(&u("/api/series/jobs?bucket=60")).await;
    let total = |k: &str| {
        flow["points"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p[k].as_u64().unwrap())
            .sum::<u64>()
    };
    assert_eq!(
        (
            total("posted"),
            total("claimed"),
            total("submitted"),
            total("finalized")
        ),
        (4, 3, 3, 1)
    );

    // The live feed pages by id.
    let all = ok(&u("/api/events?limit=1000")).await;
    let n = all["events"].as_array().unwrap().len();
    assert!(n >= 12, "{n} events");
    let first = ok(&u("/api/events?limit=3")).await;
    assert_eq!(first["events"].as_array().unwrap().len(), 3);
    let rest = ok(&u(&format!(
        "/api/events?after={}&limit=1000",
        first["last_id"]
    )))
    .await;
    assert_eq!(rest["events"].as_array().unwrap().len(), n - 3);
    assert_eq!(rest["last_id"], all["last_id"]);
    let h = ok(&u("/api/history")).await;
    assert_eq!(h["events_stored"].as_u64().unwrap() as usize, n);
    assert!(h["last_signature"].is_string());

    // Blobs in and out; prepare a post from uploaded inputs.
    let a: Vec<u8> = (0..64u8).collect();
    let (s, put) = post_body(&u("/api/blobs"), a.clone()).await;
    assert_eq!(s, 200, "{put}");
    assert_eq!(put["len"], 64);
    let sha = put["sha256"].as_str().unwrap().to_string();
    let back = reqwest::get(u(&format!("/api/blobs/{sha}"))).await.unwrap();
    assert_eq!(back.bytes().await.unwrap().to_vec(), a);
    let (_, put_b) = post_body(&u("/api/blobs"), (64..128u8).collect()).await;
    let body = json!({"workload": "gemm-i8", "m": 8, "n": 8, "k": 8, "a": put["uri"], "b": put_b["uri"],
                      "price": PRICE, "deadline_secs": 600, "buyer": m.buyer.pubkey().to_string(), "nonce": 77});
    let (s, prep) = post_body(&u("/api/jobs/prepare"), body.to_string().into_bytes()).await;
    assert_eq!(s, 200, "{prep}");
    let job77 = gpu_market_client::pda::job(&m.world.market.market, &m.buyer.pubkey(), 77);
    assert_eq!(prep["accounts"]["job"], job77.to_string());
    assert_eq!(prep["accounts"]["buyer"], m.buyer.pubkey().to_string());
    assert_eq!(prep["args"]["gemm"]["m"], 8);
    // The prepared instructions are what a wallet signs: sent as they are, they post.
    let ixs: Vec<solana_sdk::instruction::Instruction> = prep["instructions"]
        .as_array()
        .unwrap()
        .iter()
        .map(instruction)
        .collect();
    m.world
        .sender
        .send(&ixs, &m.buyer.key, &[])
        .await
        .expect("the prepared post lands");
    let posted = gpu_market_client::accounts::fetch_job(&*m.rpc, &job77)
        .await
        .unwrap();
    assert_eq!(posted.spec_uri, prep["spec_uri"].as_str().unwrap());
    assert_eq!(
        hex::encode(posted.spec_hash),
        prep["spec_hash"].as_str().unwrap()
    );

    d.stop().await;
}

fn instruction(v: &Value) -> solana_sdk::instruction::Instruction {
    use base64::Engine;
    solana_sdk::instruction::Instruction {
        program_id: v["program_id"].as_str().unwrap().parse().unwrap(),
        accounts: v["accounts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| solana_sdk::instruction::AccountMeta {
                pubkey: a["pubkey"].as_str().unwrap().parse().unwrap(),
                is_signer: a["is_signer"].as_bool().unwrap(),
                is_writable: a["is_writable"].as_bool().unwrap(),
            })
            .collect(),
        data: base64::engine::general_purpose::STANDARD
            .decode(v["data"].as_str().unwrap())
            .unwrap(),
    }
}

/// The refusals: unknown keys are 404 naming the key, malformed parameters are 400
/// naming the parameter and its value, an oversized upload is 413, unknown routes 404;
/// the web app's absence is a page that says how to build it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn unknown_keys_and_malformed_parameters_are_refused_by_name() {
    let m = market().await;
    let d = m.dashboard(&m.net.rpc_url, None).await;
    let u = |p: &str| format!("{}{p}", d.url);
    let nobody = Pubkey::new_unique().to_string();

    assert_error(
        &get(&u(&format!("/api/jobs/{nobody}"))).await,
        404,
        "unknown_job",
        &nobody,
    );
    assert_error(
        &post_body(&u(&format!("/api/jobs/{nobody}/verify")), vec![]).await,
        404,
        "unknown_job",
        &nobody,
    );
    assert_error(
        &get(&u(&format!("/api/jobs/{nobody}/result"))).await,
        404,
        "unknown_job",
        &nobody,
    );
    assert_error(
        &get(&u(&format!("/api/providers/{nobody}"))).await,
        404,
        "unknown_provider",
        &nobody,
    );
    // A job's key is not a provider's.
    let job = m.open.to_string();
    assert_error(
        &get(&u(&format!("/api/providers/{job}"))).await,
        404,
        "unknown_provider",
        &job,
    );
    assert_error(
        &get(&u("/api/jobs/not-a-key")).await,
        400,
        "bad_param",
        "not-a-key",
    );
    assert_error(
        &get(&u("/api/providers/0OIl")).await,
        400,
        "bad_param",
        "0OIl",
    );
    assert_error(
        &get(&u("/api/jobs?state=bogus")).await,
        400,
        "bad_param",
        "bogus",
    );
    assert_error(
        &get(&u("/api/jobs?limit=0")).await,
        400,
        "bad_param",
        "limit",
    );
    assert_error(
        &get(&u("/api/jobs?limit=1001")).await,
        400,
        "bad_param",
        "1001",
    );
    assert_error(
        &get(&u("/api/jobs?provider=xyz")).await,
        400,
        "bad_param",
        "xyz",
    );
    assert_error(
        &get(&u("/api/jobs?buyer=")).await,
        400,
        "bad_param",
        "buyer",
    );
    assert_error(
        &get(&u("/api/series/utilization?bucket=0")).await,
        400,
        "bad_param",
        "bucket",
    );
    assert_error(
        &get(&u("/api/series/jobs?bucket=ten")).await,
        400,
        "bad_param",
        "ten",
    );
    assert_eq!(
        ok(&u("/api/series/utilization?bucket=1")).await["bucket"],
        1
    );
    assert_error(
        &get(&u("/api/events?after=-1")).await,
        400,
        "bad_param",
        "-1",
    );
    assert_error(&get(&u("/api/events?limit=x")).await, 400, "bad_param", "x");
    assert_error(&get(&u("/api/blobs/abc")).await, 400, "bad_param", "abc");
    let zeros = "0".repeat(64);
    assert_error(
        &get(&u(&format!("/api/blobs/{zeros}"))).await,
        404,
        "unknown_blob",
        &zeros,
    );
    assert_error(
        &get(&u("/api/nothing/here")).await,
        404,
        "unknown_route",
        "/api/nothing/here",
    );
    assert_error(
        &post_body(&u("/api/blobs"), vec![7; (1 << 20) + 1]).await,
        413,
        "too_large",
        "1048576",
    );
    assert_error(
        &post_body(&u("/api/jobs/prepare"), b"{".to_vec()).await,
        400,
        "bad_body",
        "",
    );
    let body = json!({"workload": "gemm-bf17", "m": 1, "n": 1, "k": 1, "a": "x", "b": "y",
                      "price": 1, "deadline_secs": 1, "buyer": nobody});
    assert_error(
        &post_body(&u("/api/jobs/prepare"), body.to_string().into_bytes()).await,
        400,
        "bad_param",
        "gemm-bf17",
    );
    let body = json!({"workload": "gemm-i8", "m": 1, "n": 1, "k": 1, "a": "file:///tmp/x", "b": "y",
                      "price": 1, "deadline_secs": 1, "buyer": nobody});
    assert_error(
        &post_body(&u("/api/jobs/prepare"), body.to_string().into_bytes()).await,
        400,
        "bad_param",
        "file:///tmp/x",
    );

    // No web app built here: the page says how to build it; API routes stay JSON.
    let page = reqwest::get(u("/")).await.unwrap();
    assert_eq!(page.status().as_u16(), 200);
    assert!(page
        .text()
        .await
        .unwrap()
        .contains("npm ci &amp;&amp; npm run build</code> in <code>app/web"));
    d.stop().await;
}

/// The RPC node gone: chain reads are 502 with the named error, the history still
/// answers from the database.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_unreachable_node_is_a_502_and_the_history_still_answers() {
    let m = market().await;
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let d = m.dashboard(&dead, None).await;
    let u = |p: &str| format!("{}{p}", d.url);
    assert_error(&get(&u("/api/stats")).await, 502, "rpc_unreachable", "");
    let h = ok(&u("/api/history")).await;
    assert_eq!(h["events_stored"], 0);
    assert_eq!(ok(&u("/api/events")).await["events"], json!([]));
    d.stop().await;
}
