//! One sandbox per agent ([`linuxbox::Sandboxes`]): the JSON operations agent code, HTTP
//! and tools call, the workspace sync around them, and the network proxy.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use linuxbox::{
    ConnectFuture, Connector, HttpRefusal, HttpRequest, HttpResponse, Linuxbox, Prefer,
    RequestFuture, Sandboxes,
};
use serde_json::{Value, json};
use store::AgentDb;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::support::{TempDir, config, given_agent_db};

struct Given {
    sandboxes: Sandboxes,
    db: Arc<Mutex<AgentDb>>,
    dir: TempDir,
}

fn given_sandboxes() -> Given {
    let dir = TempDir::new();
    let db = Arc::new(Mutex::new(given_agent_db(dir.path(), "me")));
    Given {
        sandboxes: Sandboxes::new(config(dir.path())),
        db,
        dir,
    }
}

impl Given {
    async fn call(&self, op: &str, args: Value) -> linuxbox::Result<Value> {
        self.call_with(None, op, args).await
    }

    async fn call_with(
        &self,
        network: Option<Arc<dyn Connector>>,
        op: &str,
        args: Value,
    ) -> linuxbox::Result<Value> {
        let sync = |sandbox: Arc<Linuxbox>, prefer: Prefer| {
            let db = Arc::clone(&self.db);
            async move {
                let mut db = db.lock().unwrap();
                match prefer {
                    Prefer::Workspace => sandbox.sync_in(&mut db),
                    Prefer::Sandbox => sandbox.sync_out(&mut db),
                }
            }
        };
        self.sandboxes
            .call("Coder/me", network, op, args, sync)
            .await
    }

    fn workspace_text(&self, path: &str) -> String {
        self.db.lock().unwrap().workspace().read_text(path).unwrap()
    }
}

#[tokio::test]
async fn issue18_python_writes_into_workspace_and_workspace_writes_reach_the_next_command() {
    let given = given_sandboxes();
    given
        .db
        .lock()
        .unwrap()
        .workspace()
        .write("/in/numbers.csv", b"n\n2\n3\n")
        .unwrap();
    let result = given
        .call(
            "exec",
            json!({"command": "python3 -c \"import csv; rows = list(csv.DictReader(open('in/numbers.csv'))); open('/workspace/product.txt', 'w').write(str(eval('*'.join(r['n'] for r in rows))))\""}),
        )
        .await
        .unwrap();
    assert_eq!(result["exitCode"], json!(0), "{result}");
    assert_eq!(given.workspace_text("/product.txt"), "6");

    // Written through the workspace (as the HTTP API or this.workspace would): the next
    // command sees it.
    given
        .db
        .lock()
        .unwrap()
        .workspace()
        .write("/note.txt", b"from the API")
        .unwrap();
    let result = given
        .call("exec", json!({"command": "cat note.txt", "timeout": 5000}))
        .await
        .unwrap();
    assert_eq!(result["stdout"], json!("from the API"));

    // The file operations, and runCode.
    given
        .call(
            "writeFile",
            json!({"path": "/workspace/w.txt", "content": "w"}),
        )
        .await
        .unwrap();
    assert_eq!(given.workspace_text("/w.txt"), "w");
    let file = given
        .call("readFile", json!({"path": "product.txt"}))
        .await
        .unwrap();
    assert_eq!(file["content"], json!("6"));
    let listed = given.call("listFiles", json!({})).await.unwrap();
    let names: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["in", "note.txt", "product.txt", "w.txt"]);
    let ran = given
        .call(
            "runCode",
            json!({"language": "python", "code": "print(sum(range(5)))"}),
        )
        .await
        .unwrap();
    assert_eq!(ran["stdout"], json!("10\n"));

    // Released (the agent hibernated): the next call starts a new sandbox, filled from
    // the workspace again.
    assert_eq!(given.sandboxes.live(), 1);
    given.sandboxes.release("Coder/me");
    assert_eq!(given.sandboxes.live(), 0);
    let result = given
        .call("exec", json!({"command": "cat product.txt w.txt"}))
        .await
        .unwrap();
    assert_eq!(result["stdout"], json!("6w"));
}

#[tokio::test]
async fn issue18_sandboxes_with_spares_hand_each_agent_a_fresh_one() {
    let dir = TempDir::new();
    let sandboxes = Sandboxes::with_spares(config(dir.path()), 1).await.unwrap();
    let sync =
        |_sandbox: Arc<Linuxbox>, _prefer: Prefer| async { Ok(linuxbox::SyncReport::default()) };
    for key in ["A/one", "A/two"] {
        let result = sandboxes
            .call(
                key,
                None,
                "exec",
                json!({"command": "ls /tmp; touch /tmp/mine"}),
                sync,
            )
            .await
            .unwrap();
        // Each agent's sandbox is its own: nothing another left in /tmp.
        assert_eq!(result["stdout"], json!(""), "{key}: {result}");
    }
    assert_eq!(sandboxes.live(), 2);
}

#[tokio::test]
async fn issue18_bad_operations_and_arguments_are_clear_errors() {
    let given = given_sandboxes();
    let error = given.call("exce", json!({})).await.unwrap_err();
    assert_eq!(error.code(), "INVALID_ARGUMENT");
    assert!(error.to_string().contains("did you mean `exec`"), "{error}");
    let error = given.call("exec", json!({"cmd": "ls"})).await.unwrap_err();
    assert!(error.to_string().contains("unknown field `cmd`"), "{error}");
    let error = given.call("exec", json!({})).await.unwrap_err();
    assert!(
        error.to_string().contains("`command` is required"),
        "{error}"
    );
    let error = given
        .call("exec", json!({"command": "true", "timeout": 3_600_000}))
        .await
        .unwrap_err();
    assert!(
        error.to_string().contains("over this server's limit"),
        "{error}"
    );
    let error = given
        .call("runCode", json!({"language": "cobol", "code": "x"}))
        .await
        .unwrap_err();
    assert!(
        error.to_string().contains("use `python` or `shell`"),
        "{error}"
    );
    let error = given
        .call("getProcessLogs", json!({"id": "proc-99"}))
        .await
        .unwrap_err();
    assert_eq!(error.code(), "NOT_FOUND");
}

#[tokio::test]
async fn issue18_exec_stream_and_background_processes_through_the_service() {
    let given = given_sandboxes();
    let started = given
        .call(
            "execStream",
            json!({"command": "echo one; sleep 0.2; echo two > out.txt; echo three >&2"}),
        )
        .await
        .unwrap();
    let id = started["streamId"].clone();
    let mut events = Vec::new();
    loop {
        let next = given
            .call("streamNext", json!({"streamId": id}))
            .await
            .unwrap();
        events.extend(next["events"].as_array().unwrap().iter().cloned());
        if next["done"] == json!(true) {
            break;
        }
    }
    assert_eq!(events[0], json!({"type": "stdout", "data": "one\n"}));
    let last = events.last().unwrap();
    assert_eq!(
        (&last["type"], &last["exitCode"]),
        (&json!("exit"), &json!(0))
    );
    // The stream's end synced what the command wrote.
    assert_eq!(given.workspace_text("/out.txt"), "two\n");
    let error = given
        .call("streamNext", json!({"streamId": id}))
        .await
        .unwrap_err();
    assert_eq!(error.code(), "NOT_FOUND");

    let process = given
        .call(
            "startProcess",
            json!({"command": "echo started; exec sleep 30"}),
        )
        .await
        .unwrap();
    let listed = given.call("listProcesses", Value::Null).await.unwrap();
    assert_eq!(listed[0]["status"], json!("running"));
    // Its output arrives as it runs.
    let mut logs = Value::Null;
    for _ in 0..100 {
        logs = given
            .call("getProcessLogs", json!({"id": process["id"]}))
            .await
            .unwrap();
        if logs["stdout"] != json!("") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(logs["stdout"], json!("started\n"));
    let killed = given
        .call("killProcess", json!({"id": process["id"]}))
        .await
        .unwrap();
    assert_eq!(killed["status"], json!("exited"));
}

/// A connector that knows a few names, each at a loopback address of the test's.
#[derive(Debug)]
struct Hosts(Vec<(&'static str, SocketAddr)>);

impl Connector for Hosts {
    fn connect(&self, host: String, port: u16) -> ConnectFuture {
        let found = self
            .0
            .iter()
            .find(|(name, _)| *name == host)
            .map(|(_, addr)| *addr);
        Box::pin(async move {
            let Some(addr) = found else {
                return Err(format!("{host}:{port} is not allowed"));
            };
            tokio::net::TcpStream::connect(addr)
                .await
                .map_err(|e| e.to_string())
        })
    }
}

/// A static HTTP/1.0 file server on the host's loopback (enough for curl and for git's
/// "dumb" HTTP protocol); the query string is ignored.
async fn given_file_server(root: std::path::PathBuf) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let root = root.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buffer = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buffer).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buffer[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&head).into_owned();
                let target = head.split(' ').nth(1).unwrap_or("/");
                let path = target.split('?').next().unwrap_or("/");
                let file = root.join(path.trim_start_matches('/'));
                let response = match std::fs::read(&file) {
                    Ok(body) if !path.contains("..") => {
                        let mut r =
                            format!("HTTP/1.0 200 OK\r\ncontent-length: {}\r\n\r\n", body.len())
                                .into_bytes();
                        r.extend_from_slice(&body);
                        r
                    }
                    _ => b"HTTP/1.0 404 Not Found\r\ncontent-length: 0\r\n\r\n".to_vec(),
                };
                let _ = stream.write_all(&response).await;
            });
        }
    });
    addr
}

#[tokio::test]
async fn issue18_network_goes_only_through_the_hosts_proxy_to_allowed_hosts() {
    let given = given_sandboxes();
    let site = given.dir.path().join("site");
    std::fs::create_dir_all(&site).unwrap();
    std::fs::write(site.join("hello.txt"), "hello over the proxy").unwrap();
    let addr = given_file_server(site).await;
    let network: Arc<dyn Connector> = Arc::new(Hosts(vec![("allowed.test", addr)]));

    let fetched = given
        .call_with(
            Some(network.clone()),
            "exec",
            json!({"command": "curl -sS http://allowed.test/hello.txt"}),
        )
        .await
        .unwrap();
    assert_eq!(
        fetched["stdout"],
        json!("hello over the proxy"),
        "{fetched}"
    );
    let refused = given
        .call(
            "exec",
            json!({"command": "curl -sS -o /dev/null -w '%{http_code}' http://denied.test/; echo; curl -sS https://denied.test/ 2>&1; echo \" exit $?\""}),
        )
        .await
        .unwrap();
    let out = refused["stdout"].as_str().unwrap();
    assert!(out.starts_with("403\n"), "{refused}");
    assert!(
        out.contains("403") && out.ends_with(" exit 56\n"),
        "{refused}"
    );
    // Around the proxy there is still no way out.
    let direct = given
        .call(
            "runCode",
            json!({"language": "python", "code": "import socket\ntry:\n    socket.create_connection(('1.1.1.1', 80), timeout=2); print('connected')\nexcept OSError as e: print(type(e).__name__)"}),
        )
        .await
        .unwrap();
    assert_eq!(direct["stdout"], json!("OSError\n"), "{direct}");
}

/// git's smart HTTP protocol on the host's loopback: `git http-backend` as a CGI program
/// over the repositories in `root`, one request per connection.
async fn given_git_http_server(root: std::path::PathBuf) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let root = root.clone();
            tokio::spawn(async move {
                let mut data = Vec::new();
                let mut buffer = [0u8; 4096];
                let end = loop {
                    if let Some(i) = data.windows(4).position(|w| w == b"\r\n\r\n") {
                        break i + 4;
                    }
                    match stream.read(&mut buffer).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => data.extend_from_slice(&buffer[..n]),
                    }
                };
                let head = String::from_utf8_lossy(&data[..end]).into_owned();
                let mut body = data[end..].to_vec();
                let mut lines = head.split("\r\n");
                let mut request = lines.next().unwrap_or_default().split(' ');
                let method = request.next().unwrap_or_default().to_owned();
                let target = request.next().unwrap_or("/").to_owned();
                let header = |name: &str| {
                    head.split("\r\n").find_map(|l| {
                        let (k, v) = l.split_once(':')?;
                        k.trim()
                            .eq_ignore_ascii_case(name)
                            .then(|| v.trim().to_owned())
                    })
                };
                let length: usize = header("content-length")
                    .and_then(|l| l.parse().ok())
                    .unwrap_or(0);
                while body.len() < length {
                    match stream.read(&mut buffer).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => body.extend_from_slice(&buffer[..n]),
                    }
                }
                let (path, query) = target.split_once('?').unwrap_or((&target, ""));
                let mut cgi = tokio::process::Command::new("git");
                cgi.arg("http-backend")
                    .env_clear()
                    .env("PATH", std::env::var("PATH").unwrap_or_default())
                    .env("GIT_PROJECT_ROOT", &root)
                    .env("GIT_HTTP_EXPORT_ALL", "1")
                    .env("REQUEST_METHOD", &method)
                    .env("PATH_INFO", path)
                    .env("QUERY_STRING", query)
                    .env("CONTENT_LENGTH", body.len().to_string())
                    .env("CONTENT_TYPE", header("content-type").unwrap_or_default())
                    .env(
                        "HTTP_CONTENT_ENCODING",
                        header("content-encoding").unwrap_or_default(),
                    )
                    .env("GIT_PROTOCOL", header("git-protocol").unwrap_or_default())
                    .stdin(std::process::Stdio::piped())
                    .stdout(std::process::Stdio::piped());
                let mut child = cgi.spawn().expect("git http-backend runs");
                let mut stdin = child.stdin.take().unwrap();
                stdin.write_all(&body).await.unwrap();
                drop(stdin);
                let out = child.wait_with_output().await.unwrap().stdout;
                let split = out
                    .windows(4)
                    .position(|w| w == b"\r\n\r\n")
                    .map(|i| (i, 4))
                    .or_else(|| out.windows(2).position(|w| w == b"\n\n").map(|i| (i, 2)))
                    .unwrap_or((0, 0));
                let cgi_head = String::from_utf8_lossy(&out[..split.0]).into_owned();
                let mut status = "200 OK".to_owned();
                let mut response = String::new();
                for line in cgi_head.lines() {
                    match line.split_once(':') {
                        Some((k, v)) if k.eq_ignore_ascii_case("status") => {
                            status = v.trim().to_owned()
                        }
                        Some(_) => {
                            response.push_str(line.trim_end());
                            response.push_str("\r\n");
                        }
                        None => {}
                    }
                }
                let payload = &out[split.0 + split.1..];
                let mut reply = format!(
                    "HTTP/1.0 {status}\r\n{response}content-length: {}\r\nconnection: close\r\n\r\n",
                    payload.len()
                )
                .into_bytes();
                reply.extend_from_slice(payload);
                let _ = stream.write_all(&reply).await;
            });
        }
    });
    addr
}

#[tokio::test]
async fn issue18_git_checkout_clones_over_the_proxy_into_the_workspace() {
    let given = given_sandboxes();
    let served = given.dir.path().join("served");
    let work = given.dir.path().join("work");
    std::fs::create_dir_all(&served).unwrap();
    std::fs::create_dir_all(&work).unwrap();
    std::fs::write(work.join("README.md"), "# cloned through the proxy\n").unwrap();
    let git = |dir: &std::path::Path, args: &[&str]| {
        let out = std::process::Command::new("git")
            .args([
                "-c",
                "user.name=t",
                "-c",
                "user.email=t@t",
                "-c",
                "init.defaultBranch=main",
            ])
            .args(args)
            .current_dir(dir)
            .env("HOME", dir)
            .output()
            .expect("git runs");
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    git(&served, &["init", "--quiet", "--bare", "repo.git"]);
    git(&work, &["init", "--quiet"]);
    git(&work, &["add", "README.md"]);
    git(&work, &["commit", "--quiet", "-m", "first"]);
    let bare = served.join("repo.git");
    git(
        &work,
        &[
            "push",
            "--quiet",
            bare.to_str().unwrap(),
            "HEAD:refs/heads/main",
        ],
    );
    let addr = given_git_http_server(served).await;
    let network: Arc<dyn Connector> = Arc::new(Hosts(vec![("git.test", addr)]));

    // Without a way out, the clone fails and says why.
    let error = given
        .call(
            "gitCheckout",
            json!({"repoUrl": "http://git.test/repo.git"}),
        )
        .await
        .unwrap_err();
    assert!(error.to_string().contains("git clone of"), "{error}");
    given.sandboxes.release("Coder/me");

    let checkout = given
        .call_with(
            Some(network),
            "gitCheckout",
            json!({"repoUrl": "http://git.test/repo.git", "branch": "main"}),
        )
        .await
        .unwrap();
    assert_eq!(
        checkout["targetDir"],
        json!("/workspace/repo"),
        "{checkout}"
    );
    assert_eq!(
        given.workspace_text("/repo/README.md"),
        "# cloned through the proxy\n"
    );
    let refused = given
        .call("gitCheckout", json!({"repoUrl": "file:///etc"}))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), "INVALID_ARGUMENT");
}

#[tokio::test]
async fn issue18_binary_files_cross_read_file_and_write_file_as_base64() {
    let given = given_sandboxes();
    // Bytes that are not UTF-8, written as base64: the process and the workspace see them.
    given
        .call(
            "writeFile",
            json!({"path": "/workspace/blob.bin", "content": "AP8BAg==", "encoding": "base64"}),
        )
        .await
        .unwrap();
    let od = given
        .call("exec", json!({"command": "od -An -tu1 blob.bin"}))
        .await
        .unwrap();
    assert_eq!(
        od["stdout"]
            .as_str()
            .unwrap()
            .split_whitespace()
            .collect::<Vec<_>>(),
        ["0", "255", "1", "2"],
        "{od}"
    );
    let stored = given
        .db
        .lock()
        .unwrap()
        .workspace()
        .read("/blob.bin")
        .unwrap();
    assert_eq!(stored, [0, 255, 1, 2]);
    // A binary file a command made: read as text it is refused with the way out.
    given
        .call(
            "exec",
            json!({"command": "printf '\\377\\376x' > made.bin"}),
        )
        .await
        .unwrap();
    let refused = given
        .call("readFile", json!({"path": "made.bin"}))
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("encoding"), "{refused}");
    let read = given
        .call(
            "readFile",
            json!({"path": "made.bin", "encoding": "base64"}),
        )
        .await
        .unwrap();
    assert_eq!(read["content"], json!("//54"));
    assert_eq!(read["encoding"], json!("base64"));
    let bad = given
        .call(
            "writeFile",
            json!({"path": "x", "content": "not base64!", "encoding": "base64"}),
        )
        .await
        .unwrap_err();
    assert!(bad.to_string().contains("not base64"), "{bad}");
    let unknown = given
        .call(
            "readFile",
            json!({"path": "made.bin", "encoding": "latin1"}),
        )
        .await
        .unwrap_err();
    assert!(unknown.to_string().contains("\"base64\""), "{unknown}");
}

/// A connector that makes the requests to `api.test` itself (as islet does for hosts with
/// injected headers) and records them; no other host is reachable.
#[derive(Debug, Default)]
struct HostSide(Mutex<Vec<HttpRequest>>);

impl Connector for HostSide {
    fn connect(&self, host: String, port: u16) -> ConnectFuture {
        Box::pin(async move { Err(format!("{host}:{port} is not allowed")) })
    }

    fn makes_requests(&self, host: &str, _port: u16) -> bool {
        host == "api.test"
    }

    fn request(&self, request: HttpRequest) -> RequestFuture {
        self.0.lock().unwrap().push(request.clone());
        Box::pin(async move {
            if request.path == "/refused" {
                return Err(HttpRefusal {
                    status: 403,
                    message: "not this path".into(),
                });
            }
            Ok(HttpResponse {
                status: 201,
                reason: "Created".into(),
                headers: vec![
                    ("x-made-by".into(), "host".into()),
                    ("transfer-encoding".into(), "chunked".into()),
                ],
                body: format!(
                    "{} {} with {} bytes",
                    request.method,
                    request.path,
                    request.body.len()
                )
                .into_bytes(),
            })
        })
    }
}

#[tokio::test]
async fn issue18_plain_http_to_a_host_the_connector_serves_is_made_host_side() {
    let given = given_sandboxes();
    let connector = Arc::new(HostSide::default());
    let network: Arc<dyn Connector> = connector.clone();
    let run = |command: &str| {
        given.call_with(
            Some(Arc::clone(&network)),
            "exec",
            json!({ "command": command }),
        )
    };
    let posted = run("curl -sS -i -d 'a=1' -H 'X-Mine: yes' 'http://API.test/v1/items?x=2'")
        .await
        .unwrap();
    let out = posted["stdout"].as_str().unwrap();
    assert!(out.starts_with("HTTP/1.1 201 Created\r\n"), "{posted}");
    assert!(out.contains("x-made-by: host\r\n"), "{posted}");
    // The proxy frames the body itself: the response's own framing headers are dropped.
    assert!(!out.contains("chunked"), "{posted}");
    assert!(
        out.ends_with("\r\n\r\nPOST /v1/items?x=2 with 3 bytes"),
        "{posted}"
    );
    let seen = connector.0.lock().unwrap().pop().unwrap();
    assert_eq!(
        (seen.host.as_str(), seen.port, seen.body.as_slice()),
        ("api.test", 80, b"a=1".as_slice())
    );
    let names: Vec<String> = seen
        .headers
        .iter()
        .map(|(n, _)| n.to_ascii_lowercase())
        .collect();
    assert!(names.contains(&"x-mine".to_string()), "{names:?}");
    for framing in ["proxy-connection", "host", "content-length"] {
        assert!(!names.contains(&framing.to_string()), "{names:?}");
    }
    // A body announced with `Expect: 100-continue` is asked for and forwarded whole.
    let big = run(
        "head -c 300000 /dev/zero > /tmp/big && curl -sS -H 'Expect: 100-continue' \
         --data-binary @/tmp/big http://api.test/upload",
    )
    .await
    .unwrap();
    assert_eq!(
        big["stdout"],
        json!("POST /upload with 300000 bytes"),
        "{big}"
    );
    // The connector's refusal is the command's answer.
    let refused = run("curl -sS -w ' %{http_code}' http://api.test/refused")
        .await
        .unwrap();
    assert_eq!(
        refused["stdout"],
        json!("islet sandbox proxy: not this path\n 403"),
        "{refused}"
    );
    // A tunnel to such a host is refused: the host could not add anything to it.
    let tunnel = run("curl -sS https://api.test/ 2>&1; echo \" exit $?\"")
        .await
        .unwrap();
    assert!(
        tunnel["stdout"].as_str().unwrap().ends_with(" exit 56\n"),
        "{tunnel}"
    );
    assert_eq!(connector.0.lock().unwrap().len(), 2);
}
