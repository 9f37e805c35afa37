"""N requests of one kind against a running bheem-sso, on keep-alive connections, for callgrind:
the server's instruction count over exactly these requests is what is compared."""
import base64, http.client, json, sys, threading, urllib.parse

port, kind, n, conns = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
basic = "Basic " + base64.b64encode(b"bench:bench-client-secret-0123456789").decode()

def conn():
    return http.client.HTTPConnection("127.0.0.1", port)

def token():
    c = conn()
    c.request("POST", "/api/v1/auth/login", json.dumps({"username": "bench@example.com", "password": "bench-password-1"}),
              {"Content-Type": "application/json"})
    r = c.getresponse(); body = json.loads(r.read()); assert r.status == 200, body
    return body["access_token"]

if kind == "token":
    print(token()); sys.exit(0)
tok = sys.argv[5]
def work(count, errors):
    c = conn()
    for _ in range(count):
        if kind == "introspection":
            c.request("POST", "/api/v1/sso/introspect", urllib.parse.urlencode({"token": tok}),
                      {"Content-Type": "application/x-www-form-urlencoded", "Authorization": basic})
        elif kind == "userinfo":
            c.request("GET", "/api/v1/sso/userinfo", headers={"Authorization": "Bearer " + tok})
        elif kind == "discovery":
            c.request("GET", "/.well-known/openid-configuration")
        r = c.getresponse(); body = r.read()
        if r.status != 200: errors.append((r.status, body[:200]))
errors = []
ts = [threading.Thread(target=work, args=(n // conns, errors)) for _ in range(conns)]
[t.start() for t in ts]; [t.join() for t in ts]
if errors: print("errors", len(errors), errors[:2], file=sys.stderr); sys.exit(1)
