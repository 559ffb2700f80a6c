//! `iotchat check`: runs a milestone's scripted end-to-end scenario against a server and
//! reports, step by step, what holds.
//!
//! The scenarios are data (`scenarios/m0.toml` ... built in, parsed by [`scenario`]); the
//! verdicts on what was sent and heard are pure ([`eval`], [`store_check::compare`]); so is
//! the report ([`report`]). [`runner`] and [`conn`] are the thin async layer over tokio TCP,
//! and [`server`] starts our own `serve` when no server is given.
//!
//! m3 speaks MQTT to ThingsBoard (or a broker) instead: its own model ([`tb_scenario`],
//! `scenarios/m3.toml`), pure verdicts ([`tb_eval`]) and thin runner ([`tb_runner`]), with the
//! same report.

pub mod conn;
pub mod eval;
mod options;
pub mod report;
pub mod runner;
pub mod scenario;
pub mod server;
pub mod store_check;
pub mod tb_eval;
pub mod tb_runner;
pub mod tb_scenario;

use crate::net::{self, ConnectError};
pub use options::{CheckOptions, Milestone, TbTarget};
pub use report::{Report, Status, StepResult};
pub use scenario::{Scenario, ScenarioError};
pub use server::{OwnServer, StartError};

/// Why a check could not run at all (as opposed to a server failing it).
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// A scenario file is invalid.
    #[error(transparent)]
    Scenario(#[from] ScenarioError),
    /// Our own server did not start.
    #[error(transparent)]
    Start(#[from] StartError),
    /// The server's (or broker's) host name does not resolve: there is nothing to check.
    #[error(transparent)]
    Resolve(#[from] ConnectError),
    /// The milestone has no scenario yet.
    #[error("milestone {0} has no scenario yet")]
    NoScenario(&'static str),
}

/// Runs `config`'s scenario: against `config.server`, or against our own `serve`, started
/// for the run and stopped after it (its data directory is then the store to verify).
pub async fn run(config: &CheckOptions) -> Result<Report, CheckError> {
    let name = config.milestone.name();
    resolve_target(config).await?;
    if let Some(target) = &config.thingsboard {
        let scenario = tb_scenario::parse(tb_scenario::BUILTIN.0, tb_scenario::BUILTIN.1)?;
        let n = fastrand::u32(1..1_000_000);
        let (advice, setting) = (target.advice.clone(), target.host_setting.clone());
        let mut runner =
            tb_runner::TbRunner::new(target.options.clone(), advice, setting, config.step_timeout, n);
        let steps = runner.run(&scenario).await;
        let server = format!("{} (MQTT, ThingsBoard device API)", runner.addr());
        return Ok(Report::new(name, &scenario.title, &server, 2, steps));
    }
    let (file, text) = scenario::builtin(config.milestone).ok_or(CheckError::NoScenario(name))?;
    let scenario = scenario::parse(file, text, config.clients)?;
    match &config.server {
        Some(server) => Ok(against(&scenario, name, server, config, config.store.clone()).await),
        None => {
            let own = OwnServer::start().await?;
            let store = config.store.clone().or_else(|| Some(own.data_dir().to_owned()));
            let addr = own.addr().to_owned();
            let mut report = against(&scenario, name, &addr, config, store).await;
            report.server = format!("{addr} (our own iotchat serve, started for this check)");
            own.stop().await;
            Ok(report)
        }
    }
}

async fn against(
    scenario: &Scenario,
    milestone: &str,
    server: &str,
    config: &CheckOptions,
    store: Option<std::path::PathBuf>,
) -> Report {
    let setting = config.store_setting.clone();
    let mut runner = runner::Runner::new(server.to_owned(), config.step_timeout, store, setting);
    let steps = runner.run(scenario).await;
    Report::new(milestone, &scenario.title, server, scenario.clients, steps)
}

/// Looks up the server (or m3's broker) before any step: a name that does not resolve is a
/// mistake in the command line, not a step the server failed.
async fn resolve_target(config: &CheckOptions) -> Result<(), ConnectError> {
    if let Some(TbTarget { options, host_setting, .. }) = &config.thingsboard {
        let host =
            if options.host.contains(':') { format!("[{}]", options.host) } else { options.host.clone() };
        net::resolve(&format!("{host}:{}", options.port), host_setting).await?;
    } else if let Some(server) = &config.server {
        net::resolve(server, &config.server_setting).await?;
    }
    Ok(())
}
