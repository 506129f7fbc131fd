//! Router tests without a socket: every endpoint × role, scope, tokens,
//! purposes, and one audit record per successful data response.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use chrono::{Duration, Utc};
use knooppunt_audit::{Actor, AuditConfig, AuditLog, RecordKind, read_records};
use knooppunt_core::SystemClock;
use knooppunt_ingest::{IngestOptions, NoProgress, PseudonymKey, ingest};
use knooppunt_query::{Engine, EngineOptions};
use knooppunt_service::{Purposes, Role, Service, ServiceOptions, TokenStore};
use knooppunt_synth::{SynthConfig, generate};
use serde_json::Value;
use tower::ServiceExt;

struct Fixture {
    _dir: tempfile::TempDir,
    app: Router,
    lake: PathBuf,
    token_path: PathBuf,
    audit_dir: PathBuf,
    /// One GM0034 token per role.
    tokens: BTreeMap<Role, String>,
    /// A dashboard token for another gemeente.
    elsewhere: String,
    expired: String,
    revoked: String,
    /// A dashboard token used only by the audit-count test.
    counted: (String, String),
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(build)
}

fn build() -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let buurten =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../sample-data/buurten_almere_2024.geojson");
    let exports = dir.path().join("exports");
    let lake = dir.path().join("lake");
    generate(
        &SynthConfig {
            out: exports.clone(),
            scale: 0.02,
            seed: 7,
            clean: false,
            buurten,
        },
        &mut |_| {},
    )
    .expect("synth");
    let key = PseudonymKey::from_secret(&[7u8; 32]).expect("key");
    let summary = ingest(
        &IngestOptions {
            exports,
            lake: lake.clone(),
            key,
            clock: Arc::new(SystemClock),
        },
        &NoProgress,
    )
    .expect("ingest");
    assert!(summary.ok());

    let now = Utc::now();
    let token_path = dir.path().join("tokens.json");
    let mut store = TokenStore::load(&token_path).expect("tokens");
    let gm = || vec!["GM0034".to_string()];
    let mut tokens = BTreeMap::new();
    for role in Role::ALL {
        let (_, t) = store
            .create(role.as_str(), role, gm(), None, now)
            .expect("create");
        tokens.insert(role, t);
    }
    let (_, elsewhere) = store
        .create(
            "elsewhere",
            Role::Dashboard,
            vec!["GM0363".into()],
            None,
            now,
        )
        .expect("create");
    let (_, expired) = store
        .create(
            "expired",
            Role::Analyst,
            gm(),
            Some(now - Duration::hours(1)),
            now - Duration::days(2),
        )
        .expect("create");
    let (revoked_record, revoked) = store
        .create("revoked", Role::Analyst, gm(), None, now)
        .expect("create");
    store.revoke(&revoked_record.id, now).expect("revoke");
    let (counted_record, counted) = store
        .create("counted", Role::Analyst, gm(), None, now)
        .expect("create");

    let audit_dir = dir.path().join("audit");
    let (audit, _) =
        AuditLog::open(AuditConfig::new(&audit_dir), Arc::new(SystemClock)).expect("audit");
    let engine = Engine::open(&lake, EngineOptions::default()).expect("engine");
    let service = Service::new(
        engine,
        audit,
        ServiceOptions {
            lake: lake.clone(),
            tokens: token_path.clone(),
            release: Default::default(),
            purposes: Purposes::default(),
            rate_limit: None,
            budget_dir: dir.path().join("budget"),
            budget: Default::default(),
        },
    )
    .expect("service");
    Fixture {
        _dir: dir,
        app: knooppunt_api::router(Arc::new(service)),
        lake,
        token_path,
        audit_dir,
        tokens,
        elsewhere,
        expired,
        revoked,
        counted: (counted_record.id, counted),
    }
}

async fn get(path: &str, token: Option<&str>, purpose: Option<&str>) -> (StatusCode, Value) {
    get_on(&fixture().app, path, token, purpose).await
}

async fn get_on(
    app: &Router,
    path: &str,
    token: Option<&str>,
    purpose: Option<&str>,
) -> (StatusCode, Value) {
    let mut request = Request::builder().uri(path);
    if let Some(t) = token {
        request = request.header("authorization", format!("Bearer {t}"));
    }
    if let Some(p) = purpose {
        request = request.header("x-purpose", p);
    }
    let response = app
        .clone()
        .oneshot(request.body(Body::empty()).expect("request"))
        .await
        .expect("response");
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 64 << 20)
        .await
        .expect("body");
    let body = serde_json::from_slice(&bytes).expect("JSON body");
    (status, body)
}

fn token(role: Role) -> &'static str {
    &fixture().tokens[&role]
}

fn purpose_of(role: Role) -> &'static str {
    match role {
        Role::PrivacyOfficer => "toezicht",
        _ => "gebiedsanalyse",
    }
}

/// A buurt of GM0034 with released cells.
async fn some_buurt() -> String {
    let (status, body) = get(
        "/v1/released/indicators?level=buurt&limit=1",
        Some(token(Role::Dashboard)),
        Some("gebiedsanalyse"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["cells"][0]["code"]
        .as_str()
        .expect("a buurt code")
        .to_string()
}

fn assert_error(status: StatusCode, body: &Value, expected: StatusCode, code: &str) {
    assert_eq!(status, expected, "{body}");
    assert_eq!(body["error"], code, "{body}");
    assert!(body["message"].is_string(), "{body}");
    assert_eq!(
        body.as_object().map(|o| o.len()),
        Some(2),
        "errors carry only error and message: {body}"
    );
}

const DATA: [&str; 3] = [
    "/v1/released/indicators",
    "/v1/released/signals",
    "/v1/buurten/BU00340101",
];
const AUDIT: [&str; 2] = ["/v1/audit", "/v1/audit/verify"];
const OPEN: [&str; 2] = ["/v1/indicators", "/v1/boundaries"];

#[tokio::test]
async fn health_and_readiness_need_no_token() {
    let (status, body) = get("/healthz", None, None).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (StatusCode::OK, Some("ok"))
    );
    let (status, body) = get("/readyz", None, None).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (StatusCode::OK, Some("ready"))
    );
    let (status, body) = get("/v1/nothing", None, None).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
}

#[tokio::test]
async fn bad_tokens_get_401_everywhere() {
    let f = fixture();
    let bad = [
        None,
        Some("kp_0000000000000000000000000000000000000000000000000000000000000000"),
        Some("not a token"),
        Some(f.expired.as_str()),
        Some(f.revoked.as_str()),
    ];
    for path in DATA.iter().chain(&AUDIT).chain(&OPEN) {
        for t in bad {
            let (status, body) = get(path, t, Some("gebiedsanalyse")).await;
            assert_error(status, &body, StatusCode::UNAUTHORIZED, "unauthorized");
        }
    }
}

#[tokio::test]
async fn every_endpoint_by_role() {
    let buurt = some_buurt().await;
    let data = [
        "/v1/released/indicators".to_string(),
        "/v1/released/signals".to_string(),
        format!("/v1/buurten/{buurt}"),
    ];
    for role in Role::ALL {
        let t = Some(token(role));
        let p = Some(purpose_of(role));
        for path in &data {
            let (status, body) = get(path, t, p).await;
            if role == Role::PrivacyOfficer {
                assert_error(status, &body, StatusCode::FORBIDDEN, "forbidden");
            } else {
                assert_eq!(status, StatusCode::OK, "{role} {path}: {body}");
            }
        }
        for path in AUDIT {
            let (status, body) = get(path, t, p).await;
            if role == Role::PrivacyOfficer {
                assert_eq!(status, StatusCode::OK, "{role} {path}: {body}");
            } else {
                assert_error(status, &body, StatusCode::FORBIDDEN, "forbidden");
            }
        }
        for path in OPEN {
            let (status, body) = get(path, t, None).await;
            assert_eq!(status, StatusCode::OK, "{role} {path}: {body}");
        }
    }
}

#[tokio::test]
async fn responses_hold_released_values_only() {
    let t = Some(token(Role::Analyst));
    let p = Some("bibob");
    let (status, body) = get("/v1/released/indicators?level=gemeente", t, p).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let cells = body["cells"].as_array().expect("cells");
    assert!(!cells.is_empty());
    assert!(cells.iter().all(|c| c["level"] == "gemeente"));
    assert_eq!(body["total"].as_u64(), Some(cells.len() as u64));
    let text = body.to_string();
    assert!(!text.contains("support"), "supports are never released");

    let (_, all) = get("/v1/released/indicators?level=buurt&limit=1000", t, p).await;
    let total = all["total"].as_u64().expect("total");
    assert!(total > 5);
    let (_, page) = get("/v1/released/indicators?level=buurt&limit=2&offset=3", t, p).await;
    assert_eq!(page["total"].as_u64(), Some(total));
    assert_eq!(page["cells"][0], all["cells"][3]);
    assert_eq!(page["cells"].as_array().map(Vec::len), Some(2));

    let (status, signals) = get("/v1/released/signals?limit=5", t, p).await;
    assert_eq!(status, StatusCode::OK, "{signals}");
    assert!(signals["total"].as_u64().expect("total") > 0);
    assert!(!signals.to_string().contains("support"));

    let buurt = signals["signals"][0]["buurtcode"]
        .as_str()
        .expect("a buurt with a signal")
        .to_string();
    let (status, profile) = get(&format!("/v1/buurten/{buurt}"), t, p).await;
    assert_eq!(status, StatusCode::OK, "{profile}");
    assert_eq!(profile["buurtcode"], buurt.as_str());
    assert!(!profile["indicators"].as_array().expect("cells").is_empty());
    assert_eq!(profile["signal"]["buurtcode"], buurt.as_str());
    assert!(profile["signal"]["drivers"].is_array(), "{profile}");

    for bad in [
        "/v1/released/indicators?level=land",
        "/v1/released/indicators?peildatum=2024-1-1",
        "/v1/released/indicators?peildatum=0168-04-08",
        "/v1/buurten/BU00340101?peildatum=2101-01-01",
        "/v1/released/indicators?limit=0",
        "/v1/released/signals?limit=100000",
        "/v1/released/signals?offset=-1",
    ] {
        let (status, body) = get(bad, t, p).await;
        assert_error(status, &body, StatusCode::BAD_REQUEST, "bad_request");
    }

    let (status, catalogue) = get("/v1/indicators", t, None).await;
    assert_eq!(status, StatusCode::OK);
    let first = &catalogue["indicators"][0];
    assert!(
        first["id"].is_string() && first["title"].is_string(),
        "{first}"
    );

    let (status, geo) = get("/v1/boundaries", t, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(geo["type"], "FeatureCollection");
    let coordinate = &geo["features"][0]["geometry"]["coordinates"];
    let text = coordinate.to_string();
    assert!(text.contains("5.") && text.contains("52."), "WGS84: {text}");
}

#[tokio::test]
async fn purposes_are_required_and_bound_to_roles() {
    for path in DATA.iter().chain(&AUDIT) {
        let role = if path.starts_with("/v1/audit") {
            Role::PrivacyOfficer
        } else {
            Role::Dashboard
        };
        let t = Some(token(role));
        for missing in [None, Some(""), Some("  ")] {
            let (status, body) = get(path, t, missing).await;
            assert_error(status, &body, StatusCode::FORBIDDEN, "purpose_required");
        }
        for wrong in ["bibob", "marketing", "handhaving"] {
            let (status, body) = get(path, t, Some(wrong)).await;
            assert_error(status, &body, StatusCode::FORBIDDEN, "purpose_not_allowed");
        }
    }
    // An analyst may use bibob and handhaving, a privacy officer not
    // gebiedsanalyse.
    let (status, _) = get(
        "/v1/released/signals",
        Some(token(Role::Analyst)),
        Some("handhaving"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = get(
        "/v1/audit",
        Some(token(Role::PrivacyOfficer)),
        Some("gebiedsanalyse"),
    )
    .await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "purpose_not_allowed");
}

#[tokio::test]
async fn scope_hides_other_gemeenten_with_the_same_404() {
    let buurt = some_buurt().await;
    let elsewhere = Some(fixture().elsewhere.as_str());
    let p = Some("gebiedsanalyse");
    let (s1, out_of_scope) = get(&format!("/v1/buurten/{buurt}"), elsewhere, p).await;
    let (s2, missing) = get("/v1/buurten/BU99999999", Some(token(Role::Dashboard)), p).await;
    let (s3, garbage) = get("/v1/buurten/x%20y", Some(token(Role::Dashboard)), p).await;
    assert_error(s1, &out_of_scope, StatusCode::NOT_FOUND, "not_found");
    assert_eq!((s1, &out_of_scope), (s2, &missing));
    assert_eq!((s1, &out_of_scope), (s3, &garbage));
    assert!(!out_of_scope.to_string().contains(&buurt));

    let (status, body) = get("/v1/released/indicators", elsewhere, p).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["total"], 0);
    let (_, body) = get("/v1/released/signals", elsewhere, p).await;
    assert_eq!(body["total"], 0);
    let (_, body) = get("/v1/boundaries", elsewhere, None).await;
    assert_eq!(body["features"].as_array().map(Vec::len), Some(0));

    let (_, mine) = get(
        "/v1/released/indicators?limit=1000",
        Some(token(Role::Dashboard)),
        p,
    )
    .await;
    assert!(
        mine["cells"]
            .as_array()
            .expect("cells")
            .iter()
            .all(|c| c["gemeentecode"] == "GM0034")
    );
}

#[tokio::test]
async fn every_successful_data_response_has_one_audit_record() {
    let f = fixture();
    let (id, t) = (&f.counted.0, Some(f.counted.1.as_str()));
    let buurt = some_buurt().await;
    let count = || {
        read_records(&f.audit_dir)
            .expect("records")
            .into_iter()
            .filter(|r| r.actor == Actor::Token(id.clone()))
            .collect::<Vec<_>>()
    };
    let requests = [
        (
            "/v1/released/indicators?level=wijk".to_string(),
            "GET /v1/released/indicators",
        ),
        (
            "/v1/released/signals".to_string(),
            "GET /v1/released/signals",
        ),
        (format!("/v1/buurten/{buurt}"), "GET /v1/buurten/{code}"),
    ];
    let mut expected = 0;
    for (path, command) in &requests {
        let (status, body) = get(path, t, Some("bibob")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        expected += 1;
        let records = count();
        assert_eq!(records.len(), expected, "{path}");
        let last = records.last().expect("a record");
        assert_eq!(last.kind, RecordKind::Release);
        assert_eq!(last.role, "analyst");
        assert_eq!(last.purpose, "bibob");
        assert_eq!(last.client, "http");
        assert_eq!(last.command, *command);
        assert!(last.cells_returned > 0);
        assert!(last.policy_version.starts_with("release-v1 "));
        assert!(!last.snapshots.is_empty());
        // No area code and no value reaches the log.
        let line = serde_json::to_string(last).expect("json");
        assert!(!line.contains(&buurt) && !line.contains("GM0034"), "{line}");
    }
    // Metadata requests return no data and add no record.
    let (status, _) = get("/v1/indicators", t, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(count().len(), expected);
    // Refusals of a valid token are recorded, with the rule and no data.
    for (path, purpose, rule) in [
        ("/v1/released/signals", None, "purpose_required"),
        (
            "/v1/released/signals",
            Some("toezicht"),
            "purpose_not_allowed",
        ),
        ("/v1/buurten/BU99999999", Some("bibob"), "not_found"),
        ("/v1/released/signals?limit=0", Some("bibob"), "bad_request"),
        ("/v1/audit", Some("bibob"), "forbidden"),
    ] {
        let (status, body) = get(path, t, purpose).await;
        assert!(status.is_client_error(), "{path}: {body}");
        expected += 1;
        let records = count();
        assert_eq!(records.len(), expected, "{path}");
        let last = records.last().expect("a record");
        assert_eq!(last.outcome.rule(), Some(rule), "{path}");
        assert_eq!(last.cells_returned, 0);
    }
    // Unauthenticated requests are not attributable and add none.
    let (status, _) = get("/v1/released/signals", Some("kp_nothing"), Some("bibob")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        read_records(&f.audit_dir)
            .expect("records")
            .iter()
            .all(|r| r.outcome.rule() != Some("unauthorized"))
    );

    // The privacy officer's reads are logged too, and see the records.
    let po = Some(token(Role::PrivacyOfficer));
    let (status, body) = get("/v1/audit?kind=release&limit=1000", po, Some("toezicht")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let records = body["records"].as_array().expect("records");
    assert!(records.iter().all(|r| r["kind"] == "release"));
    assert!(
        records
            .iter()
            .filter(|r| r["actor"]["token"] == id.as_str())
            .count()
            >= requests.len()
    );
    let (status, body) = get("/v1/audit/verify", po, Some("toezicht")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["ok"], true, "{body}");
    assert!(body.get("dir").is_none());
    let reads = read_records(&f.audit_dir)
        .expect("records")
        .into_iter()
        .filter(|r| r.kind == RecordKind::LogRead)
        .count();
    assert!(reads >= 2);
}

/// A fresh directory kept for the rest of the test run.
fn scratch() -> PathBuf {
    tempfile::tempdir().expect("dir").keep()
}

/// Another service over the fixture's lake and tokens.
fn service_on(
    f: &Fixture,
    audit: AuditLog,
    rate_limit: Option<knooppunt_service::RateLimit>,
) -> Service {
    service_with(f, audit, |o| o.rate_limit = rate_limit)
}

/// Another service over the fixture's lake and tokens, with options
/// changed by `configure`.
fn service_with(
    f: &Fixture,
    audit: AuditLog,
    configure: impl FnOnce(&mut ServiceOptions),
) -> Service {
    let mut options = ServiceOptions {
        lake: f.lake.clone(),
        tokens: f.token_path.clone(),
        release: Default::default(),
        purposes: Purposes::default(),
        rate_limit: None,
        budget_dir: scratch().join("budget"),
        budget: Default::default(),
    };
    configure(&mut options);
    Service::new(
        Engine::open(&f.lake, EngineOptions::default()).expect("engine"),
        audit,
        options,
    )
    .expect("service")
}

/// A segment writer on a full disk.
struct FullDisk;

impl knooppunt_audit::SegmentSink for FullDisk {
    fn write_all(&mut self, _: &[u8]) -> std::io::Result<()> {
        Err(std::io::Error::other("no space left on device"))
    }
    fn sync(&mut self) -> std::io::Result<()> {
        Err(std::io::Error::other("no space left on device"))
    }
    fn roll(&mut self) -> std::io::Result<()> {
        Ok(())
    }
    fn segment_len(&self) -> u64 {
        0
    }
}

#[tokio::test]
async fn an_unwritable_audit_log_releases_nothing() {
    let f = fixture();
    let dir = tempfile::tempdir().expect("tempdir");
    let (audit, _) = AuditLog::open_with_sink(
        AuditConfig::new(dir.path().join("audit")),
        Arc::new(SystemClock),
        |_| Box::new(FullDisk),
    )
    .expect("audit");
    let service = service_on(f, audit, None);
    let app = knooppunt_api::router(Arc::new(service));
    let t = Some(token(Role::Dashboard));
    for path in ["/v1/released/indicators", "/v1/released/signals"] {
        let (status, body) = get_on(&app, path, t, Some("gebiedsanalyse")).await;
        assert_error(
            status,
            &body,
            StatusCode::SERVICE_UNAVAILABLE,
            "audit_unavailable",
        );
    }
    let (status, body) = get_on(&app, "/readyz", None, None).await;
    assert_error(
        status,
        &body,
        StatusCode::SERVICE_UNAVAILABLE,
        "audit_unavailable",
    );
}

/// A raw request on `app`: status, headers and body bytes.
async fn send(
    app: &Router,
    request: Request<Body>,
) -> (StatusCode, axum::http::HeaderMap, axum::body::Bytes) {
    let response = app.clone().oneshot(request).await.expect("response");
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), 64 << 20)
        .await
        .expect("body");
    (status, headers, bytes)
}

fn authed(path: &str, role: Role) -> axum::http::request::Builder {
    Request::builder()
        .uri(path)
        .header("authorization", format!("Bearer {}", token(role)))
        .header("x-purpose", purpose_of(role))
}

#[tokio::test]
async fn lists_come_as_csv_or_arrow_by_accept() {
    let app = &fixture().app;
    let path = "/v1/released/indicators?level=buurt&limit=1000";
    let (status, headers, json) = send(
        app,
        authed(path, Role::Dashboard)
            .body(Body::empty())
            .expect("request"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], "application/json");
    let json: Value = serde_json::from_slice(&json).expect("json");
    let cells = json["cells"].as_array().expect("cells");
    assert_eq!(
        headers["x-total-count"].to_str().expect("total"),
        json["total"].to_string()
    );

    let (status, headers, csv) = send(
        app,
        authed(path, Role::Dashboard)
            .header("accept", "text/csv")
            .body(Body::empty())
            .expect("request"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], "text/csv");
    let mut reader = csv::Reader::from_reader(csv.as_ref());
    let header: Vec<String> = reader
        .headers()
        .expect("header")
        .iter()
        .map(str::to_string)
        .collect();
    assert_eq!(header[..3], ["indicator", "level", "code"]);
    let rows: Vec<csv::StringRecord> = reader.records().collect::<Result<_, _>>().expect("rows");
    assert_eq!(rows.len(), cells.len());
    let numerator = header.iter().position(|h| h == "numerator").expect("col");
    let status_col = header
        .iter()
        .position(|h| h == "numerator_status")
        .expect("col");
    let mut suppressed = 0;
    for (row, cell) in rows.iter().zip(cells) {
        assert_eq!(row[2], cell["code"].as_str().expect("code")[..]);
        if cell["numerator"].is_null() {
            // Suppressed numbers are the CBS "geheim" code, never empty.
            assert_eq!(&row[numerator], "-99997");
            assert_ne!(&row[status_col], "released");
            suppressed += 1;
        } else {
            assert_eq!(row[numerator], cell["numerator"].to_string());
        }
    }
    assert!(suppressed > 0, "the fixture has suppressed buurt cells");

    let (status, headers, arrow) = send(
        app,
        authed(path, Role::Dashboard)
            .header("accept", "application/vnd.apache.arrow.stream")
            .body(Body::empty())
            .expect("request"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        headers["content-type"],
        "application/vnd.apache.arrow.stream"
    );
    let reader = arrow::ipc::reader::StreamReader::try_new(std::io::Cursor::new(arrow), None)
        .expect("arrow stream");
    let batches: Vec<_> = reader.collect::<Result<_, _>>().expect("batches");
    let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
    assert_eq!(rows, cells.len());
    let schema = batches[0].schema();
    let field = schema.field_with_name("numerator").expect("numerator");
    assert_eq!(field.data_type(), &arrow::datatypes::DataType::Int64);
    let nulls: usize = batches
        .iter()
        .map(|b| {
            b.column(schema.index_of("numerator").expect("i"))
                .null_count()
        })
        .sum();
    assert_eq!(nulls, suppressed);

    // A profile is JSON only; nothing acceptable is a 406 before any work.
    let (status, _, body) = send(
        app,
        authed("/v1/buurten/BU00340101", Role::Dashboard)
            .header("accept", "text/csv")
            .body(Body::empty())
            .expect("request"),
    )
    .await;
    let body: Value = serde_json::from_slice(&body).expect("json");
    assert_error(status, &body, StatusCode::NOT_ACCEPTABLE, "not_acceptable");
}

#[tokio::test]
async fn every_answer_carries_security_headers_and_no_cors_by_default() {
    let app = &fixture().app;
    for request in [
        Request::builder().uri("/healthz"),
        Request::builder().uri("/v1/nothing"),
        authed("/v1/released/signals", Role::Dashboard).header("origin", "https://evil.example"),
    ] {
        let (_, headers, _) = send(app, request.body(Body::empty()).expect("request")).await;
        assert_eq!(headers["x-content-type-options"], "nosniff");
        assert_eq!(headers["x-frame-options"], "DENY");
        assert_eq!(headers["cache-control"], "no-store");
        assert!(headers.contains_key("content-security-policy"));
        assert!(!headers.contains_key("access-control-allow-origin"));
        assert!(!headers.contains_key("strict-transport-security"));
    }
}

#[tokio::test]
async fn cors_only_for_configured_origins() {
    let f = fixture();
    let (audit, _) = AuditLog::open(
        AuditConfig::new(scratch().join("audit")),
        Arc::new(SystemClock),
    )
    .expect("audit");
    let service = service_on(f, audit, None);
    let config = knooppunt_api::ApiConfig {
        cors_origins: vec!["https://dashboard.almere.nl".into()],
        hsts: true,
    };
    let app = knooppunt_api::router_with(Arc::new(service), &config).expect("router");
    let preflight = Request::builder()
        .method("OPTIONS")
        .uri("/v1/released/signals")
        .header("origin", "https://dashboard.almere.nl")
        .header("access-control-request-method", "GET")
        .header("access-control-request-headers", "authorization,x-purpose")
        .body(Body::empty())
        .expect("request");
    let (status, headers, _) = send(&app, preflight).await;
    assert!(status.is_success(), "{status}");
    assert_eq!(
        headers["access-control-allow-origin"],
        "https://dashboard.almere.nl"
    );
    assert_eq!(headers["strict-transport-security"], "max-age=31536000");
    let (_, headers, _) = send(
        &app,
        Request::builder()
            .uri("/healthz")
            .header("origin", "https://evil.example")
            .body(Body::empty())
            .expect("request"),
    )
    .await;
    assert!(!headers.contains_key("access-control-allow-origin"));
    assert!(
        knooppunt_api::router_with(
            Arc::new(service_on(
                f,
                AuditLog::open(AuditConfig::new(scratch().join("a")), Arc::new(SystemClock))
                    .expect("audit")
                    .0,
                None
            )),
            &knooppunt_api::ApiConfig {
                cors_origins: vec!["bad\norigin".into()],
                hsts: false,
            },
        )
        .is_err()
    );
}

#[tokio::test]
async fn a_token_over_its_rate_gets_429_with_retry_after() {
    let f = fixture();
    let (audit, _) = AuditLog::open(
        AuditConfig::new(scratch().join("audit")),
        Arc::new(SystemClock),
    )
    .expect("audit");
    let service = service_on(
        f,
        audit,
        Some(knooppunt_service::RateLimit {
            per_second: 0.01,
            burst: 3,
        }),
    );
    let app = knooppunt_api::router(Arc::new(service));
    for _ in 0..3 {
        let (status, _) = get_on(&app, "/v1/indicators", Some(token(Role::Analyst)), None).await;
        assert_eq!(status, StatusCode::OK);
    }
    let (status, headers, body) = send(
        &app,
        authed("/v1/indicators", Role::Analyst)
            .body(Body::empty())
            .expect("request"),
    )
    .await;
    let body: Value = serde_json::from_slice(&body).expect("json");
    assert_error(status, &body, StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    let wait: u64 = headers["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!((1..=100).contains(&wait), "{wait}");
    // Other tokens are not affected.
    let (status, _) = get_on(&app, "/v1/indicators", Some(token(Role::Dashboard)), None).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn framework_errors_are_json_too() {
    let app = &fixture().app;
    let big = Request::builder()
        .method("POST")
        .uri("/v1/indicators")
        .header(
            "content-length",
            (knooppunt_api::BODY_LIMIT + 1).to_string(),
        )
        .body(Body::from(vec![b'x'; knooppunt_api::BODY_LIMIT + 1]))
        .expect("request");
    let (status, headers, body) = send(app, big).await;
    let body: Value = serde_json::from_slice(&body).expect("json");
    assert!(
        status == StatusCode::PAYLOAD_TOO_LARGE || status == StatusCode::METHOD_NOT_ALLOWED,
        "{status}"
    );
    assert!(body["error"].is_string(), "{body}");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    let (status, _, body) = send(
        app,
        Request::builder()
            .method("DELETE")
            .uri("/v1/released/signals")
            .body(Body::empty())
            .expect("request"),
    )
    .await;
    let body: Value = serde_json::from_slice(&body).expect("json");
    assert_error(
        status,
        &body,
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
    );
    let (status, _, body) = send(
        app,
        authed("/v1/released/signals?limit=%ZZ", Role::Dashboard)
            .body(Body::empty())
            .expect("request"),
    )
    .await;
    let body: Value = serde_json::from_slice(&body).expect("json");
    assert_error(status, &body, StatusCode::BAD_REQUEST, "bad_request");
}

#[tokio::test]
async fn the_openapi_document_describes_every_route() {
    let (status, doc) = get("/v1/openapi.json", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(doc["openapi"].as_str().expect("version").starts_with("3.1"));
    let paths = doc["paths"].as_object().expect("paths");
    for path in [
        "/healthz",
        "/readyz",
        "/v1/openapi.json",
        "/v1/indicators",
        "/v1/boundaries",
        "/v1/released/indicators",
        "/v1/released/signals",
        "/v1/buurten/{code}",
        "/v1/audit",
        "/v1/audit/verify",
        "/v1/audit/review",
    ] {
        assert!(paths.contains_key(path), "{path} is documented");
    }
    // The configured purposes are the X-Purpose enumeration.
    let params = doc["paths"]["/v1/released/signals"]["get"]["parameters"]
        .as_array()
        .expect("params");
    let purpose = params
        .iter()
        .find(|p| p["name"] == "X-Purpose")
        .expect("X-Purpose");
    assert!(
        purpose["schema"]["enum"]
            .as_array()
            .expect("enum")
            .contains(&Value::from("bibob"))
    );
    // Real answers have the documented fields.
    let cell_schema = &doc["components"]["schemas"]["Cell"]["properties"];
    let (_, body) = get(
        "/v1/released/indicators?limit=5",
        Some(token(Role::Dashboard)),
        Some("gebiedsanalyse"),
    )
    .await;
    let cell = body["cells"][0].as_object().expect("cell");
    let documented: Vec<&String> = cell_schema.as_object().expect("props").keys().collect();
    let actual: Vec<&String> = cell.keys().collect();
    let mut documented_sorted = documented.clone();
    documented_sorted.sort();
    let mut actual_sorted = actual.clone();
    actual_sorted.sort();
    assert_eq!(documented_sorted, actual_sorted);
}

#[tokio::test]
async fn privacy_officers_get_review_aids() {
    let po = Some(token(Role::PrivacyOfficer));
    let (status, body) = get("/v1/audit/review", po, Some("toezicht")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    for field in [
        "records",
        "near_duplicates",
        "narrow_pairs",
        "rates",
        "budget",
    ] {
        assert!(body.get(field).is_some(), "{field}: {body}");
    }
    let (status, body) = get(
        "/v1/audit/review",
        Some(token(Role::Analyst)),
        Some("bibob"),
    )
    .await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "forbidden");
}

#[tokio::test]
async fn response_bodies_match_their_snapshots() {
    let t = Some(token(Role::Dashboard));
    let p = Some("gebiedsanalyse");
    let (_, gemeente) = get("/v1/released/indicators?level=gemeente", t, p).await;
    insta::assert_json_snapshot!("released_indicators_gemeente", gemeente);
    let (_, wijk) = get("/v1/released/indicators?level=wijk&limit=6", t, p).await;
    insta::assert_json_snapshot!("released_indicators_wijk_page", wijk);
    let (_, signals) = get("/v1/released/signals?limit=2", t, p).await;
    insta::assert_json_snapshot!("released_signals_page", signals);
    let (_, catalogue) = get("/v1/indicators", t, None).await;
    insta::assert_json_snapshot!("catalogue", catalogue);
    let (_, refused) = get("/v1/released/signals", t, Some("bibob")).await;
    insta::assert_json_snapshot!("refused_purpose", refused);
}

#[tokio::test]
async fn budgets_own_for_analysts_all_for_privacy_officers() {
    let (status, body) = get("/v1/budgets", Some(token(Role::Analyst)), Some("bibob")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let balances = body["balances"].as_array().expect("balances");
    assert_eq!(balances.len(), 1, "{body}");
    assert_eq!(balances[0]["left"], balances[0]["limit"], "{body}");
    assert_eq!(balances[0]["delta_limit"], "0.00001", "{body}");
    assert_eq!(balances[0]["delta_spent"], "0.0", "{body}");
    assert_eq!(balances[0]["delta_left"], "0.00001", "{body}");
    assert_eq!(body["period"], "month");
    assert_eq!(body["delta_per_period"], "0.00001");
    let (status, body) = get(
        "/v1/budgets",
        Some(token(Role::PrivacyOfficer)),
        Some("toezicht"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["balances"].is_array());
    let (status, body) = get(
        "/v1/budgets",
        Some(token(Role::Dashboard)),
        Some("gebiedsanalyse"),
    )
    .await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "forbidden");
}

#[tokio::test]
async fn a_peildatum_before_any_data_is_released_not_an_error() {
    // All denominators are zero then, so the numbers cannot tell the
    // denominator groups apart; units still do (schemathesis found a 500).
    let t = Some(token(Role::Dashboard));
    let p = Some("gebiedsanalyse");
    let (status, body) = get(
        "/v1/released/indicators?peildatum=1924-11-26&level=gemeente",
        t,
        p,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["total"].as_u64().expect("total") > 0);
    let (status, body) = get("/v1/released/signals?peildatum=1924-11-26", t, p).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn audit_records_page_back_in_time() {
    let po = Some(token(Role::PrivacyOfficer));
    let p = Some("toezicht");
    // Enough records to page over (6 at least).
    for _ in 0..6 {
        get("/v1/audit/verify", po, p).await;
    }
    let (status, older) = get("/v1/audit?limit=3&offset=3", po, p).await;
    assert_eq!(status, StatusCode::OK, "{older}");
    let (_, newer) = get("/v1/audit?limit=3", po, p).await;
    let seqs = |body: &Value| -> Vec<u64> {
        body["records"]
            .as_array()
            .expect("records")
            .iter()
            .map(|r| r["seq"].as_u64().expect("seq"))
            .collect()
    };
    let (older, newer) = (seqs(&older), seqs(&newer));
    assert_eq!((older.len(), newer.len()), (3, 3));
    assert!(older.windows(2).all(|w| w[0] < w[1]), "{older:?}");
    assert!(older[2] < newer[0], "{older:?} before {newer:?}");
    let (_, past_the_end) = get("/v1/audit?limit=3&offset=1000000", po, p).await;
    assert_eq!(past_the_end["records"].as_array().map(Vec::len), Some(0));
}

#[tokio::test]
async fn post_query_answers_json_only() {
    // A CSV-only client gets 406 before anything is authorised, computed or
    // recorded, as on every other endpoint.
    let f = fixture();
    // No other test here posts a query (tests share the fixture's log).
    let queries = || {
        read_records(&f.audit_dir)
            .expect("records")
            .into_iter()
            .filter(|r| r.command == "POST /v1/query")
            .count()
    };
    let request = Request::builder()
        .method("POST")
        .uri("/v1/query")
        .header("authorization", format!("Bearer {}", token(Role::Analyst)))
        .header("x-purpose", "bibob")
        .header("accept", "text/csv")
        .header("content-type", "application/json")
        .body(Body::from(r#"{"sql": "SELECT COUNT(*) FROM brp"}"#))
        .expect("request");
    let response = f.app.clone().oneshot(request).await.expect("response");
    assert_eq!(response.status(), StatusCode::NOT_ACCEPTABLE);
    assert_eq!(queries(), 0);
}

#[tokio::test]
async fn csv_answers_use_the_configured_suppression_marker() {
    // `"csv_suppressed": "dot"` in the release configuration: the API's CSV
    // writes `.` like `knooppunt indicators --release --format csv`.
    let f = fixture();
    let (audit, _) = AuditLog::open(
        AuditConfig::new(scratch().join("audit")),
        Arc::new(SystemClock),
    )
    .expect("audit");
    let service = service_with(f, audit, |o| {
        o.release = serde_json::from_value(serde_json::json!({"csv_suppressed": "dot"}))
            .expect("release config");
    });
    let app = knooppunt_api::router(Arc::new(service));
    let (status, _, csv) = send(
        &app,
        authed(
            "/v1/released/indicators?level=buurt&limit=1000",
            Role::Dashboard,
        )
        .header("accept", "text/csv")
        .body(Body::empty())
        .expect("request"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let text = String::from_utf8(csv.to_vec()).expect("utf8");
    assert!(!text.contains("-99997"), "{text}");
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let header = reader.headers().expect("header").clone();
    let numerator = header.iter().position(|h| h == "numerator").expect("col");
    let dots = reader
        .records()
        .map(|r| r.expect("row"))
        .filter(|r| &r[numerator] == ".")
        .count();
    assert!(dots > 0, "the fixture has suppressed buurt cells");
}

#[tokio::test]
async fn released_signals_show_no_supports_and_no_numbers_of_suppressed_indicators() {
    let (status, body) = get(
        "/v1/released/signals?limit=1000",
        Some(token(Role::Dashboard)),
        Some("gebiedsanalyse"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    fn walk(v: &Value, suppressed: &mut usize) {
        match v {
            Value::Object(map) => {
                assert!(
                    !map.keys().any(|k| k.ends_with("_support")),
                    "a support is released: {map:?}"
                );
                if map.get("suppressed") == Some(&Value::Bool(true)) {
                    *suppressed += 1;
                    for k in ["numerator", "denominator", "rate"] {
                        assert!(map.get(k).is_none_or(Value::is_null), "{k}: {map:?}");
                    }
                }
                map.values().for_each(|c| walk(c, suppressed));
            }
            Value::Array(items) => items.iter().for_each(|c| walk(c, suppressed)),
            _ => {}
        }
    }
    let mut suppressed = 0;
    walk(&body["signals"], &mut suppressed);
    assert!(suppressed > 0, "the fixture has suppressed indicators");
}

#[tokio::test]
async fn the_audit_record_counts_the_suppressed_numbers_of_the_page() {
    // A service with its own log: the one record of one page says how many
    // numbers of that page are suppressed, per reason.
    let f = fixture();
    let dir = scratch().join("audit");
    let (audit, _) = AuditLog::open(AuditConfig::new(&dir), Arc::new(SystemClock)).expect("audit");
    let app = knooppunt_api::router(Arc::new(service_with(f, audit, |_| {})));
    let (status, _, body) = send(
        &app,
        authed(
            "/v1/released/indicators?level=buurt&limit=1000",
            Role::Dashboard,
        )
        .header("x-purpose", "gebiedsanalyse")
        .body(Body::empty())
        .expect("request"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let body: Value = serde_json::from_slice(&body).expect("json");
    let mut expected: std::collections::BTreeMap<String, u64> = Default::default();
    for cell in body["cells"].as_array().expect("cells") {
        for part in ["numerator", "denominator", "rate"] {
            let status = cell[format!("{part}_status")].as_str().expect("status");
            if status != "released" {
                *expected.entry(status.to_string()).or_insert(0) += 1;
            }
        }
    }
    assert!(
        !expected.is_empty(),
        "the fixture has suppressed buurt cells"
    );
    let records: Vec<_> = read_records(&dir)
        .expect("records")
        .into_iter()
        .filter(|r| r.command == "GET /v1/released/indicators")
        .collect();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].cells_suppressed, expected);
}
