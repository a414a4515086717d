//! The `quire` command line: `serve`, `keys …`, `token …`.

use std::io::Read;
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use clap::{Args, Parser, Subcommand};
use quire::auth::rights::{CollabPermission, Permission};
use quire::auth::tokens::{self, DocumentRef, Grant, Narrowing, RootKey};
use quire::config::{Config, LogFormat, StorageArgs};

#[derive(Parser)]
#[command(
    name = "quire",
    version,
    about = "Real-time collaboration engine for PDF documents"
)]
struct Cli {
    /// Log output format.
    #[arg(
        long,
        env = "QUIRE_LOG_FORMAT",
        value_enum,
        default_value = "pretty",
        global = true
    )]
    log_format: LogFormat,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (embedded SQLite and local blobs in ./quire-data unless configured).
    Serve(Box<Config>),
    /// Manage backend API keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Mint, attenuate and inspect session tokens offline.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Internal: checks one uploaded PDF within a memory limit and reports as JSON. The server
    /// runs it as a child process for every upload (see `quire::pdf::sandbox`).
    #[command(hide = true)]
    InspectPdf(quire::pdf::sandbox::InspectPdfArgs),
    /// Internal: writes an exported PDF within a memory limit (see `quire::exchange::pdf_export`).
    #[command(hide = true)]
    ExportPdf(quire::pdf::sandbox::ExportPdfArgs),
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Create a key and print it once; only its hash is stored.
    Create {
        #[arg(long)]
        name: String,
        #[command(flatten)]
        storage: StorageArgs,
    },
    /// List keys (ids and names, never secrets).
    List {
        #[command(flatten)]
        storage: StorageArgs,
    },
    /// Revoke a key by id.
    Revoke {
        id: String,
        #[command(flatten)]
        storage: StorageArgs,
    },
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Mint a session token with the root key (from --root-key or the data dir).
    Mint(MintArgs),
    /// Append a block that narrows a token; needs no key.
    Attenuate(AttenuateArgs),
    /// Print a token's blocks; verifies the signature when a public key is given.
    Inspect {
        /// The token (read from standard input when omitted).
        #[arg(long)]
        token: Option<String>,
        /// Root public key (`ed25519/<hex>`) to verify against.
        #[arg(long)]
        public_key: Option<String>,
    },
}

#[derive(Args)]
struct MintArgs {
    #[arg(
        long,
        conflicts_with = "app_document_id",
        required_unless_present = "app_document_id"
    )]
    document_id: Option<String>,
    #[arg(long)]
    app_document_id: Option<String>,
    #[arg(long)]
    user_id: String,
    #[arg(long)]
    user_name: Option<String>,
    #[arg(long, default_value = "")]
    layer: String,
    /// Comma-separated: read-document, write, download, all.
    #[arg(long, value_delimiter = ',', required = true)]
    permissions: Vec<String>,
    /// Comma-separated `<content-type>:<action>:<scope>` entries.
    #[arg(long, value_delimiter = ',')]
    collaboration_permissions: Vec<String>,
    #[arg(long)]
    default_group: Option<String>,
    /// Lifetime in seconds.
    #[arg(long, default_value_t = 3600)]
    expires_in: u64,
    #[arg(long, env = "QUIRE_ROOT_KEY", hide_env_values = true)]
    root_key: Option<String>,
    #[command(flatten)]
    storage: StorageArgs,
}

#[derive(Args)]
struct AttenuateArgs {
    /// The token (read from standard input when omitted).
    #[arg(long)]
    token: Option<String>,
    /// Keep only these permissions (comma-separated).
    #[arg(long, value_delimiter = ',')]
    permissions: Option<Vec<String>>,
    /// Keep only these collaboration permissions (comma-separated).
    #[arg(long, value_delimiter = ',')]
    collaboration_permissions: Option<Vec<String>>,
    /// Expire within this many seconds from now.
    #[arg(long)]
    expires_in: Option<u64>,
    /// Be valid only on this layer.
    #[arg(long)]
    layer: Option<String>,
}

fn read_token(arg: Option<String>) -> Result<String, String> {
    match arg {
        Some(t) => Ok(t),
        None => {
            let mut s = String::new();
            std::io::stdin()
                .read_to_string(&mut s)
                .map_err(|e| format!("reading the token from stdin: {e}"))?;
            Ok(s.trim().to_string())
        }
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())
}

fn keys(command: KeysCommand) -> Result<(), String> {
    let storage = match &command {
        KeysCommand::Create { storage, .. }
        | KeysCommand::List { storage }
        | KeysCommand::Revoke { storage, .. } => storage.clone(),
    };
    // Only the embedded database lives in the data dir; with --database-url it is not needed.
    if storage.uses_embedded_database() {
        storage.require_data_dir()?;
    }
    runtime()?.block_on(async move {
        let db = quire::db::connect(&storage.database_url(), Default::default())
            .await
            .map_err(|e| e.to_string())?;
        use quire::auth::api_keys;
        match command {
            KeysCommand::Create { name, .. } => {
                let key = api_keys::create(&db, &name)
                    .await
                    .map_err(|e| e.to_string())?;
                let _ = quire::audit::record(
                    &db,
                    quire::audit::Event {
                        document_id: None,
                        kind: "api_key.create",
                        actor: "cli".into(),
                        detail: serde_json::json!({ "key_id": key.id, "name": name }),
                    },
                )
                .await;
                eprintln!(
                    "created key {} ({name}); it is shown once, store it now:",
                    key.id
                );
                println!("{}", key.key);
            }
            KeysCommand::List { .. } => {
                for k in api_keys::list(&db).await.map_err(|e| e.to_string())? {
                    let status = if k.revoked_at.is_some() {
                        "revoked"
                    } else {
                        "active"
                    };
                    println!(
                        "{}\t{}\t{}\t{}",
                        k.id,
                        status,
                        quire::time_util::micros_to_rfc3339(k.created_at),
                        k.name
                    );
                }
            }
            KeysCommand::Revoke { id, .. } => {
                if !api_keys::revoke(&db, &id)
                    .await
                    .map_err(|e| e.to_string())?
                {
                    return Err(format!("no active key with id `{id}`"));
                }
                let _ = quire::audit::record(
                    &db,
                    quire::audit::Event {
                        document_id: None,
                        kind: "api_key.revoke",
                        actor: "cli".into(),
                        detail: serde_json::json!({ "key_id": id }),
                    },
                )
                .await;
                eprintln!("revoked key {id}");
            }
        }
        Ok(())
    })
}

/// Now plus `seconds`, refused with a message naming `flag` beyond [`tokens::MAX_LIFETIME`].
fn lifetime_end(flag: &str, seconds: u64) -> Result<SystemTime, String> {
    tokens::expiry_after(SystemTime::now(), Duration::from_secs(seconds)).ok_or_else(|| {
        format!(
            "{flag} must be at most {} seconds (ten years)",
            tokens::MAX_LIFETIME.as_secs()
        )
    })
}

/// The `created_at` of managed document `id`, read from the configured database.
fn document_created_at(storage: &StorageArgs, id: &str) -> Result<i64, String> {
    runtime()?.block_on(async {
        let db = quire::db::connect(&storage.database_url(), Default::default())
            .await
            .map_err(|e| format!("database: {e}"))?;
        match quire::documents::get(&db, id).await {
            Ok(doc) => Ok(doc.created_at),
            Err(quire::documents::Error::NotFound(_)) => Err(format!(
                "no document `{id}` in the database ({}): upload it first, or use \
                 --app-document-id for a document the application keeps itself",
                storage.data_dir.display()
            )),
            Err(e) => Err(e.to_string()),
        }
    })
}

fn token(command: TokenCommand) -> Result<(), String> {
    match command {
        TokenCommand::Mint(a) => {
            // The root key comes from the data dir unless --root-key names it.
            if a.root_key.is_none() {
                a.storage.require_data_dir()?;
            }
            let root = RootKey::load_or_create(&a.storage.data_dir, a.root_key.as_deref())
                .map_err(|e| e.to_string())?;
            // The same limits as `POST /api/sessions`.
            quire::limits::check_identity(
                &a.user_id,
                a.user_name.as_deref(),
                &a.layer,
                a.default_group.as_deref(),
            )
            .map_err(|v| format!("--{}: {}", v.field.replace('_', "-"), v.message))?;
            let expires_at = lifetime_end("--expires-in", a.expires_in)?;
            let (document, document_created) = match (a.document_id, a.app_document_id) {
                (Some(id), None) => {
                    // Bound to the document as it is now, like a token minted over HTTP, so it
                    // does not open a later document uploaded under the same id.
                    let created = document_created_at(&a.storage, &id)?;
                    (DocumentRef::Managed(id), Some(created))
                }
                (None, Some(id)) => {
                    quire::documents::validate_id(&id)
                        .map_err(|e| format!("--app-document-id: {e}"))?;
                    (DocumentRef::App(id), None)
                }
                _ => return Err("give exactly one of --document-id and --app-document-id".into()),
            };
            let permissions = Permission::parse_list(&a.permissions)?;
            if permissions.is_empty() {
                return Err("--permissions must name at least one permission".into());
            }
            let grant = Grant {
                document,
                user_id: a.user_id,
                user_name: a.user_name,
                layer: a.layer,
                default_group: a.default_group,
                permissions,
                collaboration_permissions: CollabPermission::parse_list(
                    &a.collaboration_permissions,
                )?,
                expires_at,
                document_created,
            };
            let minted = tokens::mint(&root, &grant).map_err(|e| e.to_string())?;
            eprintln!("revocation id: {}", minted.revocation_id);
            println!("{}", minted.token);
        }
        TokenCommand::Attenuate(a) => {
            let token = read_token(a.token)?;
            let narrowing = Narrowing {
                permissions: a
                    .permissions
                    .as_deref()
                    .map(Permission::parse_list)
                    .transpose()?,
                collaboration_permissions: a
                    .collaboration_permissions
                    .as_deref()
                    .map(CollabPermission::parse_list)
                    .transpose()?,
                expires_at: a
                    .expires_in
                    .map(|s| lifetime_end("--expires-in", s))
                    .transpose()?,
                layer: a.layer,
            };
            println!(
                "{}",
                tokens::attenuate(&token, &narrowing).map_err(|e| e.to_string())?
            );
        }
        TokenCommand::Inspect { token, public_key } => {
            let token = read_token(token)?;
            let key = public_key
                .map(|k| k.parse().map_err(|e| format!("--public-key: {e}")))
                .transpose()?;
            print!(
                "{}",
                tokens::inspect(&token, key).map_err(|e| e.to_string())?
            );
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Everything Quire writes (database, blobs, root key) is for its own user only.
    #[cfg(unix)]
    unsafe {
        libc::umask(0o077);
    }
    quire::telemetry::init(cli.log_format);
    let result = match cli.command {
        Command::Serve(config) => actix_web::rt::System::new()
            .block_on(quire::app::serve(*config))
            .map_err(|e| e.to_string()),
        Command::Keys(command) => keys(command),
        Command::Token(command) => token(command),
        Command::InspectPdf(args) => return args.run(),
        Command::ExportPdf(args) => return args.run(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "quire failed");
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
