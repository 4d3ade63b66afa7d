//! The `fundledger` binary: parses arguments, wires the crates together, runs, and maps errors to
//! exit codes. No ledger logic lives here.

use clap::Parser;

/// fundledger: an event-sourced, hash-chained ledger for a provincially pooled work-injury
/// insurance fund.
#[derive(Debug, Parser)]
#[command(name = "fundledger", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Check a policy file and print what it configures (exit 2 if it is malformed).
    Policy {
        /// Path to a policy TOML file; the shipped Gansu policy when omitted.
        #[arg(long)]
        file: Option<std::path::PathBuf>,
    },
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match cli.command {
        None => {
            use clap::CommandFactory;
            let _ = Cli::command().print_help();
            std::process::ExitCode::SUCCESS
        }
        Some(Command::Policy { file }) => {
            let loaded = match file {
                Some(path) => fundledger_domain::policy::Policy::from_path(&path),
                None => Ok(fundledger_domain::policy::Policy::gansu()),
            };
            match loaded {
                Ok(policy) => {
                    println!("{}", policy.summary());
                    std::process::ExitCode::SUCCESS
                }
                Err(err) => {
                    eprintln!("fundledger: {err}");
                    std::process::ExitCode::from(2)
                }
            }
        }
    }
}
