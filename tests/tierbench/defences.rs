//! The policy's defences on real Redis and DynamoDB Local (local processes):
//! coalescing, leases, stale-if-error, stale-while-revalidate, negative
//! caching, early refresh, and no resurrection under racing invalidations.

use std::sync::Arc;
use std::time::Duration;

use tierbench::backends::{BackendChoice, BackendConfig, DynamoJit};
use tierbench::chain::{Defences, Layer, LeaseConfig, TtlPolicy};
use tierbench::clock::{Clock, SharedClock, SystemClock};
use tierbench::origin::OriginError;
use tierbench::store::{DynamoOptions, L1Store, L2Store, Lookup};
use tierbench::stripe::{CacheKey, ObjectKind};

use crate::util::{LiveChain, backends_with, chain_on, customer, origin, setup};

fn policy(defences: Defences) -> TtlPolicy {
    TtlPolicy { defences, ..TtlPolicy::uniform(Duration::from_secs(10), Duration::from_secs(20)) }
}

fn cus(id: &str) -> CacheKey {
    CacheKey::new(ObjectKind::Customer, id)
}

/// `n` concurrent reads of `key` through the given chains (round robin); the
/// layers that served them.
async fn stampede(chains: &[Arc<LiveChain>], key: &CacheKey, n: usize) -> Vec<Layer> {
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let (chain, key) = (chains[i % chains.len()].clone(), key.clone());
            tokio::spawn(async move { chain.read(&key).await.expect("served").layer })
        })
        .collect();
    let mut layers = Vec::new();
    for t in tasks {
        layers.push(t.await.unwrap());
    }
    layers
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coalescing_makes_500_callers_on_an_expired_hot_key_call_stripe_once() {
    let s = setup(
        BackendChoice::Local,
        policy(Defences { coalesce: true, ..Defences::default() }),
        DynamoOptions::default(),
    )
    .await;
    s.origin.stripe.set("", "/v1/customers/cus_hot", 1, &customer("cus_hot", "a@example.com"));
    s.chain.read(&cus("cus_hot")).await.unwrap();
    s.clock.advance(Duration::from_secs(30)); // past both tiers' TTLs
    s.origin.stripe.set_delay(Duration::from_millis(300));
    let before = s.origin.stripe.calls();
    let chain = Arc::new(s.chain.clone());
    let layers = stampede(&[chain], &cus("cus_hot"), 500).await;
    assert_eq!(s.origin.stripe.calls() - before, 1, "one origin call for 500 concurrent misses");
    assert!(layers.iter().all(|l| *l == Layer::Origin));
    assert_eq!(s.chain.stats().snapshot().coalesced, 499);

    // The same stampede without coalescing reaches Stripe many times.
    let key = cus("cus_cold");
    s.origin.stripe.set("", "/v1/customers/cus_cold", 1, &customer("cus_cold", "b@example.com"));
    let plain = Arc::new(
        chain_on(
            &s.backends,
            &s.origin.server.uri(),
            policy(Defences::default()),
            DynamoOptions::default(),
            s.clock.clone(),
        )
        .await,
    );
    let before = s.origin.stripe.calls();
    stampede(&[plain], &key, 50).await;
    assert!(
        s.origin.stripe.calls() - before > 10,
        "without coalescing: {}",
        s.origin.stripe.calls() - before
    );
    s.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leases_let_one_instance_fill_while_the_others_wait() {
    let lease = LeaseConfig {
        ttl: Duration::from_secs(5),
        wait: Duration::from_secs(3),
        poll: Duration::from_millis(20),
    };
    let p = policy(Defences { coalesce: true, lease: Some(lease), ..Defences::default() });
    let s = setup(BackendChoice::Local, p.clone(), DynamoOptions::default()).await;
    s.origin.stripe.set("", "/v1/customers/cus_hot", 1, &customer("cus_hot", "a@example.com"));
    s.origin.stripe.set_delay(Duration::from_millis(300));
    let mut instances = Vec::new();
    for _ in 0..4 {
        let chain = chain_on(
            &s.backends,
            &s.origin.server.uri(),
            p.clone(),
            DynamoOptions::default(),
            s.clock.clone(),
        )
        .await;
        instances.push(Arc::new(chain));
    }
    let layers = stampede(&instances, &cus("cus_hot"), 200).await;
    let calls = s.origin.stripe.calls();
    assert!(calls <= instances.len(), "at most one origin call per instance, got {calls}");
    assert_eq!(calls, 1, "the lease holder's fill serves every instance");
    assert!(layers.contains(&Layer::L1), "waiters were served the holder's fill from L1");
    let waits: u64 = instances.iter().map(|c| c.stats().snapshot().lease_waits).sum();
    assert_eq!(waits, 3, "each other instance waited once (its callers coalesced behind it)");
    s.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_if_error_serves_keys_cached_before_an_outage_and_nothing_else() {
    let d = Defences { stale_if_error: Duration::from_secs(60), ..Defences::default() };
    let s = setup(BackendChoice::Local, policy(d), DynamoOptions::default()).await;
    let keys: Vec<CacheKey> = (0..20).map(|i| cus(&format!("cus_{i}"))).collect();
    for k in &keys {
        s.origin.stripe.set("", &format!("/v1/customers/{}", k.id), 1, &customer(&k.id, "a@example.com"));
        s.chain.read(k).await.unwrap();
    }
    s.clock.advance(Duration::from_secs(30)); // expired in both tiers, inside the window
    s.origin.stripe.set_outage(Some(503));
    for k in &keys {
        let served = s.chain.read(k).await.expect("served stale during the outage");
        assert!(served.stale, "{k:?}");
    }
    assert!(s.chain.read(&cus("cus_never_cached")).await.is_err(), "nothing cached: the outage shows");
    s.clock.advance(Duration::from_secs(60)); // past the window
    assert!(s.chain.read(&keys[0]).await.is_err(), "past stale-if-error the outage shows");
    s.origin.stripe.set_outage(None);
    let fresh = s.chain.read(&keys[0]).await.unwrap();
    assert!(!fresh.stale && fresh.layer == Layer::Origin);
    assert_eq!(s.chain.stats().snapshot().stale_if_error, 20);
    s.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_while_revalidate_answers_at_once_and_refreshes_behind() {
    let d = Defences { stale_while_revalidate: Duration::from_secs(30), ..Defences::default() };
    let s = setup(BackendChoice::Local, policy(d), DynamoOptions::default()).await;
    let key = cus("cus_swr");
    s.origin.stripe.set("", "/v1/customers/cus_swr", 1, &customer("cus_swr", "old@example.com"));
    s.chain.read(&key).await.unwrap();
    s.origin.stripe.set("", "/v1/customers/cus_swr", 2, &customer("cus_swr", "new@example.com"));
    s.origin.stripe.set_delay(Duration::from_millis(500));
    s.clock.advance(Duration::from_secs(12)); // L1 expired, inside the window
    let t = std::time::Instant::now();
    let served = s.chain.read(&key).await.unwrap();
    assert!(served.stale && served.entry.version == 1 && served.layer == Layer::L1);
    assert!(t.elapsed() < Duration::from_millis(400), "no wait for Stripe: {:?}", t.elapsed());
    let mut refreshed = false;
    for _ in 0..60 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let now = s.chain.read(&key).await.unwrap();
        if !now.stale && now.entry.version == 2 {
            refreshed = true;
            break;
        }
    }
    assert!(refreshed, "the background refresh landed");
    assert_eq!(s.origin.stripe.calls(), 2, "one refresh for every stale read");
    s.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn negative_caching_remembers_a_404_for_its_ttl() {
    let d = Defences { negative_ttl: Duration::from_secs(5), ..Defences::default() };
    let s = setup(BackendChoice::Local, policy(d), DynamoOptions::default()).await;
    let key = cus("cus_missing");
    for _ in 0..3 {
        assert!(matches!(
            s.chain.read(&key).await,
            Err(tierbench::chain::ChainError::Origin(OriginError::NotFound(_)))
        ));
    }
    assert_eq!(s.origin.stripe.calls(), 1, "the 404 was remembered");
    s.clock.advance(Duration::from_secs(6));
    s.origin.stripe.set("", "/v1/customers/cus_missing", 1, &customer("cus_missing", "late@example.com"));
    assert_eq!(
        s.chain.read(&key).await.unwrap().layer,
        Layer::Origin,
        "after its TTL the key is asked again"
    );
    assert_eq!(s.chain.stats().snapshot().negative_hits, 2);
    s.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn early_refresh_renews_hot_keys_before_they_expire() {
    let d = Defences { early_refresh_beta: 2_000.0, ..Defences::default() };
    let s = setup(BackendChoice::Local, policy(d), DynamoOptions::default()).await;
    let keys: Vec<CacheKey> = (0..10).map(|i| cus(&format!("cus_x{i}"))).collect();
    for k in &keys {
        s.origin.stripe.set("", &format!("/v1/customers/{}", k.id), 1, &customer(&k.id, "a@example.com"));
        s.chain.read(k).await.unwrap();
    }
    let fills = s.origin.stripe.calls();
    s.clock.advance(Duration::from_millis(9_900)); // 100 ms before the L1 TTL
    for k in &keys {
        assert_eq!(s.chain.read(k).await.unwrap().layer, Layer::L1, "served from cache meanwhile");
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let early = s.chain.stats().snapshot().early_refreshes;
    assert!(early >= 5, "most hits this close to expiry refresh early: {early}");
    assert_eq!(s.origin.stripe.calls() - fills, early as usize);
    s.finish().await;
}

/// Fills racing invalidations never leave older data cached: after the last
/// change of each key and its invalidation, both tiers hold the newest
/// version or nothing. It loads DynamoDB Local for a while, so `.ci/run` runs it
/// alone, after the other tests.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "loads the machine, run alone: cargo test --test tierbench defences::racing_fills -- --ignored"]
async fn racing_fills_and_invalidations_resurrect_nothing() {
    let ops: usize =
        std::env::var("TIERBENCH_RESURRECTION_OPS").ok().and_then(|v| v.parse().ok()).unwrap_or(100_000);
    // 100k writes load DynamoDB Local itself for minutes: its full JIT does
    // them in about half the time of the C1-only default.
    let full_jit = BackendConfig { dynamodb_jit: DynamoJit::Full, ..BackendConfig::default() };
    let b = backends_with(BackendChoice::Local, full_jit).await;
    let o = origin().await;
    let clock: SharedClock = SystemClock::shared();
    let chain = Arc::new(
        chain_on(
            &b,
            &o.server.uri(),
            TtlPolicy::uniform(Duration::from_secs(600), Duration::from_secs(600)),
            DynamoOptions::default(),
            clock.clone(),
        )
        .await,
    );
    let keys: Vec<CacheKey> = (0..40).map(|i| cus(&format!("cus_r{i}"))).collect();
    let versions: Arc<Vec<std::sync::atomic::AtomicU64>> =
        Arc::new(keys.iter().map(|_| std::sync::atomic::AtomicU64::new(1)).collect());
    for k in &keys {
        o.stripe.set("", &format!("/v1/customers/{}", k.id), 1, &customer(&k.id, "v1@example.com"));
    }
    o.stripe.set_delay(Duration::from_millis(2)); // fills take a while: races
    let workers = 32;
    let started = std::time::Instant::now();
    let tasks: Vec<_> = (0..workers)
        .map(|w| {
            let (chain, keys, versions, stripe) =
                (chain.clone(), keys.clone(), versions.clone(), o.stripe.clone());
            tokio::spawn(async move {
                let mut rng = tierbench::rng::SplitMix::new(tierbench::rng::mix(7, w as u64));
                let (mut fills, mut invalidations) = (0usize, 0usize);
                while fills + invalidations < ops / workers {
                    let i = rng.below(keys.len() as u64) as usize;
                    let k = &keys[i];
                    if rng.chance(0.5) {
                        // A change at Stripe, then its webhook's invalidation.
                        let v = versions[i].fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
                        stripe.set(
                            "",
                            &format!("/v1/customers/{}", k.id),
                            v,
                            &customer(&k.id, &format!("v{v}@example.com")),
                        );
                        chain.invalidate(k).await.expect("invalidation");
                        invalidations += 1;
                    } else {
                        // A fill, as a miss or a refresh makes it.
                        chain.refresh(k).await.expect("fill");
                        fills += 1;
                    }
                }
                (fills, invalidations)
            })
        })
        .collect();
    let (mut fills, mut invalidations) = (0, 0);
    for t in tasks {
        let (f, i) = t.await.unwrap();
        fills += f;
        invalidations += i;
    }
    let mut resurrected = Vec::new();
    for (i, k) in keys.iter().enumerate() {
        let newest = versions[i].load(std::sync::atomic::Ordering::SeqCst);
        if let Some(raw) = chain.l1().raw_get(k).await.unwrap() {
            let v = tierbench::chain::CacheEntry::from_json(&raw).unwrap().version;
            if v < newest {
                resurrected.push(format!("L1 {} holds v{v} < v{newest}", k.id));
            }
        }
        if let tierbench::store::Lookup::Found(e) =
            tierbench::store::L2Store::get(chain.l2(), k).await.unwrap()
            && e.is_live(clock.now())
            && e.version < newest
        {
            resurrected.push(format!("L2 {} holds live v{} < v{newest}", k.id, e.version));
        }
    }
    let refused = chain.stats().snapshot().resurrections_refused;
    eprintln!(
        "resurrection stress: {fills} fills + {invalidations} invalidations in {:.1} s, {refused} late writes refused, {} resurrections",
        started.elapsed().as_secs_f64(),
        resurrected.len()
    );
    assert!(resurrected.is_empty(), "{resurrected:?}");
    assert!(refused > 0, "the race happened (late fills were refused)");
    b.stop().await.unwrap();
}

/// Forged, replayed (too old), malformed and redelivered webhooks change
/// nothing; a valid one invalidates its key once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_a_valid_fresh_webhook_invalidates_and_only_once() {
    use tierbench::chain::{WebhookError, WebhookHandler};
    use tierbench::stripe::webhook::signature_header;
    let s = setup(BackendChoice::Local, policy(Defences::default()), DynamoOptions::default()).await;
    let key = cus("cus_hook");
    s.origin.stripe.set("", "/v1/customers/cus_hook", 1, &customer("cus_hook", "a@example.com"));
    s.chain.read(&key).await.unwrap();
    let cached = || async { s.chain.l1().raw_get(&key).await.unwrap().is_some() };
    let handler = WebhookHandler::new(vec!["whsec_new".into(), "whsec_old".into()]);
    let body = br#"{"id":"evt_1","object":"event","type":"customer.updated","data":{"object":{"id":"cus_hook","object":"customer"}}}"#;
    let now = 1_800_000_000;
    let forged = signature_header(&["whsec_attacker"], now, body, None);
    assert!(matches!(
        handler.apply(&s.chain, body, Some(&forged), now).await,
        Err(WebhookError::Signature(_))
    ));
    assert!(handler.apply(&s.chain, body, None, now).await.is_err(), "unsigned");
    let replayed = signature_header(&["whsec_new"], now - 301, body, None);
    assert!(
        handler.apply(&s.chain, body, Some(&replayed), now).await.is_err(),
        "older than the 300 s tolerance"
    );
    let mut tampered = body.to_vec();
    tampered[60] ^= 1;
    let signed_original = signature_header(&["whsec_new"], now, body, None);
    assert!(handler.apply(&s.chain, &tampered, Some(&signed_original), now).await.is_err(), "body changed");
    let not_json = b"not json at all";
    let signed = signature_header(&["whsec_new"], now, not_json, None);
    assert!(matches!(
        handler.apply(&s.chain, not_json, Some(&signed), now).await,
        Err(WebhookError::Body(_))
    ));
    assert!(cached().await, "nothing above touched the cache");

    // Signed with the rotated-out secret: still valid during the rotation.
    let valid = signature_header(&["whsec_old"], now, body, None);
    let applied = handler.apply(&s.chain, body, Some(&valid), now).await.unwrap();
    assert_eq!((applied.keys, applied.duplicate), (1, false));
    assert!(!cached().await, "the valid event invalidated the key");
    s.clock.advance(Duration::from_millis(5));
    s.chain.read(&key).await.unwrap();
    let again = handler.apply(&s.chain, body, Some(&valid), now).await.unwrap();
    assert!(again.duplicate, "a redelivery of evt_1 is dropped");
    assert!(cached().await, "and changes nothing");
    s.finish().await;
}

/// L1 and L2 disagree for no longer than the policy allows. An invalidation
/// that reached DynamoDB but not Redis (Redis was down when the webhook came)
/// leaves the old version in L1 until the L1 TTL ends, not a moment longer;
/// and an entry promoted from L2 never outlives the L2 entry it came from.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn l1_and_l2_disagree_no_longer_than_the_l1_ttl() {
    let l1_ttl = Duration::from_secs(10);
    let s = setup(
        BackendChoice::Local,
        TtlPolicy::uniform(l1_ttl, Duration::from_secs(3_600)),
        DynamoOptions::default(),
    )
    .await;
    let key = cus("cus_split");
    let path = "/v1/customers/cus_split";
    s.origin.stripe.set("", path, 1, &customer("cus_split", "old@example.com"));
    assert_eq!(s.chain.read(&key).await.unwrap().layer, Layer::Origin);
    // Stripe changes; the invalidation reaches L2 only.
    s.origin.stripe.set("", path, 2, &customer("cus_split", "new@example.com"));
    assert!(s.chain.l2().expire(&key, s.clock.now()).await.unwrap());
    for second in 0..10 {
        let served = s.chain.read(&key).await.unwrap();
        assert_eq!(
            (served.layer, served.entry.version),
            (Layer::L1, 1),
            "second {second}: within the L1 TTL"
        );
        s.clock.advance(Duration::from_millis(999));
    }
    s.clock.advance(Duration::from_millis(10)); // the L1 TTL has passed since the fill
    let served = s.chain.read(&key).await.unwrap();
    assert_eq!((served.layer, served.entry.version), (Layer::Origin, 2), "not a moment past the L1 TTL");
    let Lookup::Found(l1) = s.chain.l1().get(&key).await.unwrap() else { panic!("L1 refilled") };
    let Lookup::Found(l2) = s.chain.l2().get(&key).await.unwrap() else { panic!("L2 refilled") };
    assert_eq!((l1.version, l2.version), (2, 2), "the tiers agree again");

    // Promotion: an L2 entry with 3 s left is promoted for 3 s, not the L1 TTL.
    let other = cus("cus_promoted");
    s.origin.stripe.set("", "/v1/customers/cus_promoted", 1, &customer("cus_promoted", "p@example.com"));
    let short = TtlPolicy::uniform(l1_ttl, Duration::from_secs(3));
    let filler = crate::util::chain_on(
        &s.backends,
        &s.origin.server.uri(),
        short,
        DynamoOptions::default(),
        s.clock.clone(),
    )
    .await;
    filler.read(&other).await.unwrap();
    assert!(s.chain.l1().delete(&other).await.unwrap_or(true), "L1 emptied");
    assert_eq!(s.chain.read(&other).await.unwrap().layer, Layer::L2, "promoted from L2");
    let Lookup::Found(promoted) = s.chain.l1().get(&other).await.unwrap() else { panic!("promoted into L1") };
    let Lookup::Found(below) = s.chain.l2().get(&other).await.unwrap() else { panic!("still in L2") };
    assert!(promoted.expires_at <= below.expires_at, "{promoted:?} outlives {below:?}");
    s.finish().await;
}
