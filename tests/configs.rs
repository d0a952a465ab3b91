//! Every config in `configs/` loads; every file in `tests/configs-bad/` is refused with the
//! message its first line (`# expect: TEXT`) promises.

mod common;

use edgesight::config::Config;

fn toml_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            files.extend(toml_files(&path));
        } else if path.extension().is_some_and(|e| e == "toml") {
            files.push(path);
        }
    }
    files.sort();
    files
}

/// The `${NAME}` variables a file refers to.
fn env_vars(text: &str) -> Vec<String> {
    text.split("${")
        .skip(1)
        .filter_map(|rest| rest.split_once('}').map(|(name, _)| name.to_string()))
        .collect()
}

#[test]
fn every_shipped_config_loads() {
    let files = toml_files(&common::repo().join("configs"));
    assert!(files.len() >= 3, "{files:?}");
    for path in files {
        let text = std::fs::read_to_string(&path).expect("read");
        let vars = env_vars(&text);
        if vars.is_empty() {
            let config = Config::load(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert!(!config.cameras.is_empty(), "{}", path.display());
        }
        // Through the command line too, with the secrets it names set in its environment.
        let out = std::process::Command::new(common::bin())
            .arg("check-config")
            .arg(&path)
            .envs(vars.iter().map(|v| (v.as_str(), "example-secret")))
            .output()
            .expect("run check-config");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{}: {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(stdout.contains("camera "), "{stdout}");
        assert!(!stdout.contains("example-secret"), "{stdout}");
    }
}

#[test]
fn the_embedded_demo_is_configs_demo_toml() {
    let home = common::repo();
    let embedded = Config::demo(&home).expect("embedded demo");
    let file = Config::load(&home.join("configs/demo.toml")).expect("demo file");
    assert_eq!(embedded.cameras, file.cameras);
    assert_eq!(
        std::path::absolute(&embedded.model.path).expect("abs"),
        std::path::absolute(&file.model.path).expect("abs")
    );
}

#[test]
fn every_bad_config_is_refused_with_its_expected_message() {
    let files = toml_files(&common::repo().join("tests/configs-bad"));
    assert!(files.len() >= 6, "{files:?}");
    for path in files {
        let text = std::fs::read_to_string(&path).expect("read");
        let expect = text
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("# expect: "))
            .unwrap_or_else(|| panic!("{} lacks `# expect:`", path.display()));
        let err = Config::load(&path)
            .expect_err(&path.display().to_string())
            .to_string();
        assert!(
            err.contains(expect),
            "{}: `{err}` lacks `{expect}`",
            path.display()
        );
        assert!(
            err.contains("fix:"),
            "{}: `{err}` gives no fix",
            path.display()
        );
        assert!(err.contains(&*path.file_name().expect("name").to_string_lossy()));
    }
}
