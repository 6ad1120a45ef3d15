//! "The same suite passes as a non-root user": when the tests run as root, this one runs
//! the whole suite again as `nobody` (no cgroups then: rlimits instead).

use std::process::Command;

#[test]
fn issue18_the_suite_passes_as_a_non_root_user() {
    if !rustix::process::getuid().is_root() {
        // Already the non-root run (or a non-root developer): the other tests are the test.
        return;
    }
    let exe = std::env::current_exe().unwrap();
    let out = Command::new("runuser")
        .args(["-u", "nobody", "--"])
        .arg(&exe)
        .args([
            "--skip",
            "issue18_the_suite_passes_as_a_non_root_user",
            "--test-threads",
            "2",
        ])
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin")
        .env("TMPDIR", "/tmp")
        .output()
        .expect("runuser runs (util-linux)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "as nobody:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("test result: ok"), "{stdout}");
    assert!(!stdout.contains(" 0 passed"), "{stdout}");
}
