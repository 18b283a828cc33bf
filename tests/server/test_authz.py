"""test_authz.py — who may call what: every endpoint of ringfenced against
every kind of caller, as one table.

The expected statuses come from server/http.c's roles_for (which roles reach
a resource at all: 401 for a missing or unknown token, 403 for a role not
allowed, decided before any object is looked up) and from the handlers'
finer rules in server/api.c: creating tenants is admin only; tokens for a
tenant by an admin or that tenant's tenant-admin; a tenant's policy is
changed only by that tenant's tenant-admin (vendor roles are refused with
403 and the refusal is audited as policy.refused); a release is approved by
an approver who is not its author; a tenant-admin sees only its own tenant,
and another tenant is a 404 whether it exists or not. /healthz and /metrics
take no token.
"""

import itertools
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402

# The callers, in the column order of MATRIX.
ROLES = ("none", "bad", "admin", "author", "approver", "operator", "ta_own", "ta_other",
         "enroll", "agent")
# none: no Authorization header; bad: a well-formed token nobody issued;
# ta_own: tenant-admin of acme (the tenant in the paths); ta_other:
# tenant-admin of early; enroll: acme's enrollment token; agent: an acme host.

# Bodies: a callable gets a fresh counter so that creations do not collide.
_n = itertools.count(1)


def uniq(prefix):
    return "%s-%d" % (prefix, next(_n))


B_TENANT = lambda: {"name": uniq("m")}                                     # noqa: E731
B_TTOKEN = lambda: {"role": "enroll", "name": uniq("matrix-enroll")}       # noqa: E731
B_VTOKEN = lambda: {"role": "operator", "name": uniq("matrix-op")}         # noqa: E731
B_ENROLL = lambda: {"hostname": uniq("matrix-host"), "sensor_version": H.SENSORS[0]}  # noqa
B_CHECKIN = lambda: {"sensor_version": H.SENSORS[0],                        # noqa: E731
                     "content": [{"channel": 291, "version": 0, "status": "none"}]}
B_POLICY = lambda: {"mode": "ga"}                                          # noqa: E731
B_EMPTY = lambda: {}                                                       # noqa: E731

# Paths: {t} is acme, {rid} an approved release with a running rollout
# {roid}, {new} a validated release (approved by the approve row).
#
#  method  path                              body       none bad admin author approver operator ta_own ta_other enroll agent
MATRIX = [
    ("GET",  "/v1/tenants",                    None,      (401, 401, 200, 403, 403, 200, 403, 403, 403, 403)),
    ("POST", "/v1/tenants",                    B_TENANT,  (401, 401, 201, 403, 403, 403, 403, 403, 403, 403)),
    ("GET",  "/v1/tenants/{t}",                None,      (401, 401, 200, 403, 403, 200, 200, 404, 403, 403)),
    ("POST", "/v1/tenants/{t}/tokens",         B_TTOKEN,  (401, 401, 201, 403, 403, 403, 201, 404, 403, 403)),
    ("GET",  "/v1/tenants/{t}/policies/291",   None,      (401, 401, 200, 403, 403, 200, 200, 404, 403, 403)),
    ("PUT",  "/v1/tenants/{t}/policies/291",   B_POLICY,  (401, 401, 403, 403, 403, 403, 200, 404, 403, 403)),
    ("POST", "/v1/tokens",                     B_VTOKEN,  (401, 401, 201, 403, 403, 403, 403, 403, 403, 403)),
    ("GET",  "/v1/tokens",                     None,      (401, 401, 200, 403, 403, 403, 403, 403, 403, 403)),
    ("GET",  "/v1/tenants/{t}/tokens",         None,      (401, 401, 200, 403, 403, 403, 200, 404, 403, 403)),
    ("POST", "/v1/enroll",                     B_ENROLL,  (401, 401, 403, 403, 403, 403, 403, 403, 201, 403)),
    ("POST", "/v1/checkin",                    B_CHECKIN, (401, 401, 403, 403, 403, 403, 403, 403, 403, 200)),
    ("GET",  "/v1/releases",                   None,      (401, 401, 200, 200, 200, 200, 403, 403, 403, 403)),
    # an author's empty upload is refused for its body (400), everyone else by role
    ("POST", "/v1/releases",                   B_EMPTY,   (401, 401, 403, 400, 403, 403, 403, 403, 403, 403)),
    ("GET",  "/v1/releases/{rid}",             None,      (401, 401, 200, 200, 200, 200, 403, 403, 403, 403)),
    ("POST", "/v1/releases/{new}/approve",     None,      (401, 401, 403, 403, 200, 403, 403, 403, 403, 403)),
    ("GET",  "/v1/rollouts",                   None,      (401, 401, 200, 200, 200, 200, 403, 403, 403, 403)),
    # the operator's start is refused for its body: the channel is busy (409)
    ("POST", "/v1/rollouts",                   "rid",     (401, 401, 403, 403, 403, 409, 403, 403, 403, 403)),
    ("GET",  "/v1/rollouts/{roid}",            None,      (401, 401, 200, 200, 200, 200, 403, 403, 403, 403)),
    ("POST", "/v1/rollouts/{roid}/halt",       None,      (401, 401, 403, 403, 403, 200, 403, 403, 403, 403)),
    ("POST", "/v1/rollouts/{roid}/resume",     None,      (401, 401, 403, 403, 403, 200, 403, 403, 403, 403)),
    ("POST", "/v1/rollouts/{roid}/rollback",   None,      (401, 401, 403, 403, 403, 200, 403, 403, 403, 403)),
    ("GET",  "/v1/plan?release={rid}",         None,      (401, 401, 200, 403, 403, 200, 403, 403, 403, 403)),
    ("GET",  "/v1/audit",                      None,      (401, 401, 200, 403, 403, 403, 403, 403, 403, 403)),
    ("GET",  "/metrics",                       None,      (200, 200, 200, 200, 200, 200, 200, 200, 200, 200)),
    ("GET",  "/healthz",                       None,      (200, 200, 200, 200, 200, 200, 200, 200, 200, 200)),
]

BAD_TOKEN = "rf_" + "0" * 64


class AuthzTest(H.ServerCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.srv = cls.class_server(name="authz")
        admin = cls.srv.init()
        cls.srv.start()
        w = cls.w = H.World(cls.srv, admin, cls.fx).bootstrap()
        agent = w.enroll({"acme": 1})[0]
        cls.tokens = {
            "none": None, "bad": BAD_TOKEN, "admin": admin, "author": w.tok["author"],
            "approver": w.tok["approver"], "operator": w.tok["operator"],
            "ta_own": w.tenant["acme"]["admin"], "ta_other": w.tenant["early"]["admin"],
            "enroll": w.tenant["acme"]["enroll"], "agent": agent.token,
        }
        cls.rid = w.release(4)
        cls.roid = w.start_rollout(cls.rid)["id"]
        st, v = w.upload(6)
        assert st == 201, (st, v)
        cls.new = v["id"]
        cls.vars = {"t": "acme", "rid": cls.rid, "roid": cls.roid, "new": cls.new}

    def request(self, role, method, path, body):
        if body == "rid":
            body = {"release": self.rid}
        elif callable(body):
            body = body()
        return self.srv.call(method, path.format(**self.vars), self.tokens[role], body)

    def test_1_matrix(self):
        audit_before = len(self.srv.audit_all(self.w.admin))
        failures = []
        for method, path, body, want in MATRIX:
            self.assertEqual(len(want), len(ROLES), path)
            for role, exp in zip(ROLES, want):
                st, v = self.request(role, method, path, body)
                if st != exp:
                    failures.append("%-5s %-32s as %-9s: got %d, want %d  %s" %
                                    (method, path, role, st, exp, str(v)[:160]))
                    continue
                # Refusals say why, in JSON.
                if st in (401, 403, 404):
                    if not (isinstance(v, dict) and isinstance(v.get("error"), str)):
                        failures.append("%s %s as %s: %d without an error message: %r" %
                                        (method, path, role, st, v))
        self.assertEqual(failures, [], "\n" + "\n".join(failures))

        # The chain holds after all of that, and grew.
        self.assertAuditVerifies(self.srv.db, "after the matrix")
        entries = self.srv.audit_all(self.w.admin)
        self.assertGreater(len(entries), audit_before)

        # Every vendor role's refused policy change is on record.
        refused = [e for e in entries if e["action"] == "policy.refused"]
        for role in ("admin", "author", "approver", "operator"):
            hits = [e for e in refused if " %s " % role in e["actor"] + " "
                    and e["object"] == "tenant/acme/policy/291"]
            self.assertEqual(len(hits), 1, "policy.refused for %s: %s" % (role, refused))
        self.assertEqual(len(refused), 4, refused)

        # The state changes the allowed callers made are on record too.
        actions = [e["action"] for e in entries]
        for a in ("release.approve", "rollout.halt", "rollout.resume", "rollout.rollback",
                  "tenant.create", "token.issue", "host.enroll", "policy.set"):
            self.assertIn(a, actions)

        # The only policy change that went through is acme's own admin's.
        pol = self.srv.ok("GET", "/v1/tenants/acme/policies/291", self.w.admin)
        self.assertEqual((pol["mode"], pol["default"]), ("ga", False))
        self.assertEqual(
            [e["actor"].split()[1] for e in entries if e["action"] == "policy.set"
             and e["object"] == "tenant/acme/policy/291"], ["tenant-admin"])

    def test_2_other_tenant_is_indistinguishable_from_none(self):
        """A tenant-admin asking about another tenant gets exactly the answer
        it gets for a tenant that does not exist (up to the name it asked)."""
        ta = self.tokens["ta_own"]
        for method, sub, body in (("GET", "", None), ("GET", "/policies/291", None),
                                  ("PUT", "/policies/291", {"mode": "paused"}),
                                  ("POST", "/tokens", {"role": "enroll", "name": "x"}),
                                  ("GET", "/nosuchthing", None)):
            st1, v1 = self.srv.call(method, "/v1/tenants/early" + sub, ta, body)
            st2, v2 = self.srv.call(method, "/v1/tenants/nosuch" + sub, ta, body)
            self.assertEqual(st1, 404, (method, sub, v1))
            self.assertEqual(st2, 404, (method, sub, v2))
            self.assertEqual(str(v1).replace("early", "NAME"), str(v2).replace("nosuch", "NAME"),
                             (method, sub))
        # and early's policy was not changed by that PUT
        pol = self.srv.ok("GET", "/v1/tenants/early/policies/291", self.w.admin)
        self.assertEqual(pol["mode"], "early")

    def test_3_unauthenticated_answers_do_not_depend_on_the_object(self):
        for tok in (None, BAD_TOKEN, "rf_short", "Basic Zm9vOmJhcg=="):
            answers = set()
            for path in ("/v1/tenants/acme", "/v1/tenants/nosuch", "/v1/releases/%d" % self.rid,
                         "/v1/releases/999999", "/v1/rollouts/%d" % self.roid, "/v1/rollouts/999"):
                if tok and tok.startswith("Basic"):
                    st, v = self.srv.call("GET", path, headers={"Authorization": tok})
                else:
                    st, v = self.srv.call("GET", path, tok)
                self.assertEqual(st, 401, (tok, path, v))
                answers.add(str(v))
            self.assertEqual(len(answers), 1, (tok, answers))

    def test_4_finer_rules(self):
        s, w = self.srv, self.w
        before = len(s.audit_all(w.admin))
        # A tenant-admin issues only tenant-admin and enroll tokens, for its own tenant.
        for role in ("admin", "operator", "author", "agent"):
            st, v = s.call("POST", "/v1/tenants/acme/tokens", self.tokens["ta_own"],
                           {"role": role, "name": "escalate"})
            self.assertEqual(st, 400, (role, v))
            self.assertIn("'role'", v["error"])
        # An admin issues vendor tokens at /v1/tokens, never agent or tenant ones.
        for role in ("agent", "tenant-admin", "enroll", "root"):
            st, v = s.call("POST", "/v1/tokens", w.admin, {"role": role, "name": "x"})
            self.assertEqual(st, 400, (role, v))
        self.assertEqual(len(s.audit_all(w.admin)), before, "a refused token was audited or issued")

        # The enroll token a tenant-admin issued enrolls into that tenant only.
        tok = s.ok("POST", "/v1/tenants/acme/tokens", self.tokens["ta_own"],
                   {"role": "enroll", "name": "ta-made"})["token"]
        h = s.ok("POST", "/v1/enroll", tok, {"hostname": "ta-made-1",
                                              "sensor_version": H.SENSORS[1]})
        self.assertEqual(h["tenant"], "acme")

        # An approver is refused for a release written under its own name.
        same = s.ok("POST", "/v1/tokens", w.admin, {"role": "approver", "name": "author-1"})
        st, v = w.upload(7)
        self.assertEqual(st, 201, v)
        st, v2 = s.call("POST", "/v1/releases/%d/approve" % v["id"], same["token"])
        self.assertEqual(st, 403, v2)
        self.assertEqual(s.ok("GET", "/v1/releases/%d" % v["id"], w.admin)["state"], "validated")
        self.assertIn("release.approve.refused",
                      [e["action"] for e in s.audit_all(w.admin)[-3:]])
        # Roles do not reach other roles' actions by a different method either.
        st, v = s.call("DELETE", "/v1/tenants/acme", self.tokens["enroll"])
        self.assertEqual(st, 403, v)
        st, v = s.call("DELETE", "/v1/tenants/acme", w.admin)
        self.assertEqual(st, 405, v)
        self.assertAuditVerifies(s.db, "after the finer rules")


if __name__ == "__main__":
    unittest.main()
