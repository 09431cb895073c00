//! With two shards on a SO_REUSEPORT port, the kernel spreads connections and both shards
//! serve requests; `/metrics` reports each shard separately.

use adshard_testkit::server::{metric_sum, TestServer};

#[test]
fn both_shards_serve_requests() {
    let cores = core_affinity::get_core_ids().map_or(0, |ids| ids.len());
    assert!(cores >= 2, "this test needs 2 online cores, found {cores}");
    let server = TestServer::start(|config| {
        config.server.shards = 2;
        config.server.cpus = String::new();
    });
    assert_eq!(server.handle.as_ref().unwrap().shard_cpus().len(), 2);
    // The kernel hashes each connection's 4-tuple to a socket; 64 connections from distinct
    // source ports all landing on one shard has probability 2^-63.
    for _ in 0..64 {
        let mut client = server.connect();
        assert_eq!(client.get("/healthz").status, 200);
    }
    let metrics = server.metrics();
    let shard0 = metric_sum(
        &metrics,
        "adshard_http_requests_total",
        &["shard=\"0\"", "endpoint=\"/healthz\""],
    );
    let shard1 = metric_sum(
        &metrics,
        "adshard_http_requests_total",
        &["shard=\"1\"", "endpoint=\"/healthz\""],
    );
    assert_eq!(shard0 + shard1, 64, "{metrics}");
    assert!(
        shard0 > 0 && shard1 > 0,
        "shard 0 served {shard0}, shard 1 served {shard1}"
    );
}

#[test]
fn more_shards_than_cpus_is_a_clear_error() {
    let mut config = adshard::config::Config::default();
    config.server.listen = "127.0.0.1:0".parse().unwrap();
    config.server.admin_listen = "127.0.0.1:0".parse().unwrap();
    config.server.cpus = "0".into();
    config.server.shards = 2;
    let error = adshard::server::start(config).unwrap_err().to_string();
    assert!(error.contains("2 shards need 2 CPUs"), "{error}");
}
