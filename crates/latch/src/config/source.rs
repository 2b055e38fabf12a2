//! Where setting values come from: the `--config` TOML file, then the `LATCH_*` environment
//! variables, which win. Names not in the settings table are refused in both, with "did you mean".

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, anyhow};

use super::table::{self, SETTINGS};

/// The raw values of the settings, by variable name.
pub struct Sources {
    env: BTreeMap<String, String>,
    file: BTreeMap<String, String>,
    file_name: String,
}

impl Sources {
    /// Reads the process environment and, if given, the TOML file.
    pub fn read(path: Option<&Path>) -> anyhow::Result<Self> {
        let env = environment(std::env::vars_os())?;
        let (file, file_name) = match path {
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .with_context(|| format!("cannot read config file {}", p.display()))?;
                (
                    toml_file(&text, &p.display().to_string())?,
                    p.display().to_string(),
                )
            }
            None => (BTreeMap::new(), String::new()),
        };
        Ok(Self {
            env,
            file,
            file_name,
        })
    }

    /// The value of a setting: the variable if set (and not empty), else the file's.
    pub fn get(&self, env: &'static str) -> Option<String> {
        debug_assert!(
            table::find(env).is_some(),
            "{env} is not in the settings table"
        );
        self.env
            .get(env)
            .filter(|v| !v.is_empty())
            .or_else(|| self.file.get(env))
            .cloned()
    }

    /// How to name a setting in an error: the variable, plus the file's key when it came from there.
    pub fn label(&self, env: &'static str) -> String {
        let from_env = self.env.get(env).is_some_and(|v| !v.is_empty());
        if !from_env && self.file.contains_key(env) {
            let key = table::find(env).map(|s| s.toml_key()).unwrap_or_default();
            format!("{env} (`{key}` in {})", self.file_name)
        } else {
            env.to_owned()
        }
    }
}

/// The `LATCH_*` variables; any that is not a setting is refused.
fn environment(
    vars: impl Iterator<Item = (std::ffi::OsString, std::ffi::OsString)>,
) -> anyhow::Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for (name, value) in vars {
        let Some(name) = name.to_str().filter(|n| n.starts_with("LATCH_")) else {
            continue;
        };
        if table::find(name).is_none() {
            let hint = match table::suggest(name, SETTINGS.iter().map(|s| s.env)) {
                Some(near) => format!("; did you mean {near}?"),
                None => "; `latch serve --help` lists the settings".to_owned(),
            };
            return Err(anyhow!("unknown setting {name} in the environment{hint}"));
        }
        let value = value
            .into_string()
            .map_err(|_| anyhow!("invalid setting {name}: the value is not valid UTF-8"))?;
        out.insert(name.to_owned(), value);
    }
    Ok(out)
}

/// The file's keys as variable names, values as text (numbers and booleans written as such).
fn toml_file(text: &str, place: &str) -> anyhow::Result<BTreeMap<String, String>> {
    let parsed: toml::Table = toml::from_str(text)
        .map_err(|e| anyhow!("invalid config file {place}: {}", e.message()))?;
    let mut out = BTreeMap::new();
    for (key, value) in parsed {
        let Some(setting) = SETTINGS.iter().find(|s| s.toml_key() == key) else {
            let keys: Vec<String> = SETTINGS.iter().map(|s| s.toml_key()).collect();
            let hint = match table::suggest(&key, keys.iter().map(String::as_str)) {
                Some(near) => format!("; did you mean `{near}`?"),
                None => "; `latch serve --help` lists the settings".to_owned(),
            };
            return Err(anyhow!(
                "unknown setting `{key}` in config file {place}{hint}"
            ));
        };
        let text = match value {
            toml::Value::String(s) => s,
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Boolean(b) => if b { "on" } else { "off" }.to_owned(),
            other => {
                return Err(anyhow!(
                    "invalid setting {} (`{key}` in {place}): expected a string, number or boolean, not {}",
                    setting.env,
                    other.type_str()
                ));
            }
        };
        out.insert(setting.env.to_owned(), text);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests panic on failure")]

    use super::*;

    fn vars(
        pairs: &[(&str, &str)],
    ) -> impl Iterator<Item = (std::ffi::OsString, std::ffi::OsString)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect::<Vec<_>>()
            .into_iter()
    }

    #[test]
    fn an_unknown_variable_is_refused_with_the_nearest_name() {
        let err = environment(vars(&[("LATCH_ISSUR", "x")]))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("LATCH_ISSUR") && err.contains("did you mean LATCH_ISSUER?"),
            "{err}"
        );
        let ok = environment(vars(&[
            ("LATCH_ISSUER", "x"),
            ("PATH", "/bin"),
            ("LATCHED", "1"),
        ]))
        .unwrap();
        assert_eq!(ok.len(), 1);
    }

    #[test]
    fn the_file_accepts_every_setting_and_refuses_unknown_keys() {
        let all: String = SETTINGS
            .iter()
            .map(|s| format!("{} = \"x\"\n", s.toml_key()))
            .collect();
        assert_eq!(toml_file(&all, "f.toml").unwrap().len(), SETTINGS.len());
        let typed = toml_file("token_rate_limit = 5\naccess_log = true\n", "f.toml").unwrap();
        assert_eq!(typed["LATCH_TOKEN_RATE_LIMIT"], "5");
        assert_eq!(typed["LATCH_ACCESS_LOG"], "on");
        let err = toml_file("request_timout = 5\n", "f.toml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("did you mean `request_timeout`?"), "{err}");
        let err = toml_file("listen = [1]\n", "f.toml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("LATCH_LISTEN"), "{err}");
    }
}
