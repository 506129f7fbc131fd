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
    // Refusals, not-found and metadata requests return no data and add none.
    for (path, purpose) in [
        ("/v1/released/signals", None),
        ("/v1/released/signals", Some("toezicht")),
        ("/v1/buurten/BU99999999", Some("bibob")),
        ("/v1/indicators", None),
        ("/v1/audit", Some("bibob")),
    ] {
        let (status, _) = get(path, t, purpose).await;
        assert_eq!(status == StatusCode::OK, path == "/v1/indicators", "{path}");
        assert_eq!(count().len(), expected, "{path}");
    }

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
            >= expected
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
    let service = Service::new(
        Engine::open(&f.lake, EngineOptions::default()).expect("engine"),
        audit,
        ServiceOptions {
            lake: f.lake.clone(),
            tokens: f.token_path.clone(),
            release: Default::default(),
            purposes: Purposes::default(),
        },
    )
    .expect("service");
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
