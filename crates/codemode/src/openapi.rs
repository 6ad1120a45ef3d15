//! OpenAPI → Code Mode: load a spec (file or URL; JSON or YAML; gzipped or not; OpenAPI
//! 3.0/3.1 or Swagger 2.0), turn its operations into a [`Catalog`], and turn tool calls
//! back into HTTP requests.
//!
//! - [`load`] / [`parse`] → [`Spec`]: documents kept unresolved; every `$ref` is checked
//!   once up front; broken operations are skipped with a warning ([`Spec::warnings`]).
//! - [`catalog`] → one [`crate::catalog::Tool`] per operation, schemas resolved per tool.
//! - [`build_request`] / [`build_raw_request`] → [`HttpRequestParts`] for the host to send.

mod load;
mod naming;
mod refs;
mod request;
mod spec;
mod swagger;
mod tools;

use crate::catalog::Catalog;
use crate::error::Error;

pub(crate) use refs::weight;
pub use refs::{CIRCULAR, TRUNCATED};
pub use request::{BodyContent, HttpRequestParts, RequestBody, build_raw_request, build_request};
pub(crate) use spec::METHODS;
pub use spec::{Operation, Spec};

/// Loads a spec from a file path or an `http(s)://` URL, with the documents its relative
/// `$ref`s point at. Parsing runs on a blocking thread: Microsoft Graph's 20 MB take a
/// noticeable moment.
pub async fn load(source: &str) -> Result<Spec, Error> {
    let source = source.trim().to_owned();
    match refs::Location::from_origin(&source) {
        refs::Location::Url(url) => {
            let downloader = load::SpecDownloader::new(&source)?;
            let bytes = downloader.get(&url).await?;
            let origin = source.clone();
            let mut assembly = run_blocking(move || {
                let root = load::decode(&bytes, &origin)?;
                load::Assembly::new(root, &origin)
            })
            .await?;
            assembly.load_all(&downloader).await;
            run_blocking(move || Ok(Spec::from_assembly(assembly, &source))).await
        }
        refs::Location::File(_) => {
            run_blocking(move || {
                let bytes = std::fs::read(&source).map_err(|e| Error::SpecRead {
                    path: source.clone(),
                    error: e,
                })?;
                parse(&bytes, &source)
            })
            .await
        }
    }
}

async fn run_blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, Error> + Send + 'static,
) -> Result<T, Error> {
    tokio::task::spawn_blocking(f).await.unwrap_or_else(|e| {
        Err(Error::SpecDecode {
            origin: "spec loader".to_owned(),
            reason: format!("internal error while loading: {e}"),
        })
    })
}

/// Parses a spec from bytes. `origin` names it in messages and anchors relative `$ref`s
/// (a file path: referenced files are read from disk; a URL: referenced documents are
/// only fetched by [`load`], here they become warnings).
pub fn parse(bytes: &[u8], origin: &str) -> Result<Spec, Error> {
    let root = load::decode(bytes, origin)?;
    let mut assembly = load::Assembly::new(root, origin)?;
    assembly.load_files();
    Ok(Spec::from_assembly(assembly, origin))
}

/// One tool per usable operation: namespace `api.<firstTag>` (camelCase; `api` when
/// untagged), name from the operationId (camelCase, tag prefix stripped, reserved words
/// suffixed `_`, collisions numbered), input = parameters and body properties merged.
///
/// Schemas are resolved per tool within a size budget (units of about one JSON value or 64
/// bytes of text; 3M for the whole catalog, 250 to 1,500 per schema): references nested
/// too deep to fit are cut to `{"$truncated": ref}`; `allOf` inheritance does not count as
/// nesting; `x-` extensions and discriminator mappings are left out.
pub fn catalog(spec: &Spec) -> Catalog {
    tools::catalog(spec, tools::default_budget(spec.operation_count()))
}

/// [`catalog`] with a different budget (see there) for each resolved input or output
/// schema.
pub fn catalog_with_budget(spec: &Spec, max_schema_nodes: usize) -> Catalog {
    tools::catalog(spec, max_schema_nodes)
}
