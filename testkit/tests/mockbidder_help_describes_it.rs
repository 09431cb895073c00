//! `adshard-mockbidder --help` describes the mock bidder, not the crate it is built from: an
//! operator following the README's walkthrough reads it to learn the options.

use std::process::Command;

#[test]
fn mockbidder_help_describes_the_mock_bidder() {
    let output = Command::new(env!("CARGO_BIN_EXE_adshard-mockbidder"))
        .arg("--help")
        .output()
        .expect("run adshard-mockbidder --help");
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    let about = help.lines().next().unwrap_or_default();
    assert!(
        about.contains("mock") && about.contains("bidder"),
        "the first line should say what the binary is: {about:?}"
    );
    assert!(
        !help.contains("tests and benchmarks share"),
        "the crate's description is not the tool's:\n{help}"
    );
    for option in ["--listen", "--latency", "--bid-rate", "--price", "--fault"] {
        assert!(help.contains(option), "{option} missing:\n{help}");
    }
}
