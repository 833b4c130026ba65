/*
 * The verifier's private structures: the loaded policy (policy.c) and the result being
 * built (verify.c), shared with the unit tests, which evaluate single components of
 * hand-built reports without any TPM.
 */
#ifndef SRTM_VERIFY_INT_H
#define SRTM_VERIFY_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <srtm/srtm.h>

#include "common.h"
#include "km.h"
#include "srtm.pb-c.h"

/* Bounds of a policy file; a peer-controlled size is never trusted. */
#define POLICY_MAX_FILE (16u * 1024u * 1024u)
#define POLICY_MAX_COMPONENTS 65536u
#define POLICY_MAX_CCRS 4096u           /* per component */
#define POLICY_MAX_DIGESTS 1048576u     /* allowed digests in the whole policy */
#define POLICY_MAX_LABEL 256u           /* bytes of a digest's label */
#define POLICY_MAX_REQUIRE 65536u
#define POLICY_MAX_REVERT_BY 256u       /* names in one component's "revert_by" */
#define POLICY_MAX_REFERENCE (64u * 1024u) /* bytes of srtm-keymgr's reference file */
#define POLICY_MAX_PCR_VALUES 8u        /* reference values of one PCR (an update window) */

/* A component's path: the names from component 0 down to it, joined by '/'
 * ("platform/dm/vm-b"). Longer paths cannot be named by a policy. */
#define VERIFY_MAX_PATH 1024u

/* Bounds of the evidence: the largest report srtmd builds, plus the envelope. */
#define VERIFY_MAX_EVIDENCE ((size_t)SRTM_MAX_REPORT + SRTM_MAX_MESSAGE)

typedef struct pol_digest {
    uint8_t d[SRTM_DIGEST_LEN];
    char *label; /* NULL when none */
} pol_digest;

/* Rules for one CCR. The CCR is acceptable when its log replays to its value (always
 * required) and, if has_allowed or has_expected, at least one of the rules given holds. */
typedef struct pol_ccr {
    uint32_t index;
    bool has_allowed;
    pol_digest *allowed; /* sorted by digest for bsearch */
    size_t n_allowed;
    bool has_expected;
    uint8_t expected[SRTM_DIGEST_LEN];
} pol_ccr;

typedef struct pol_component {
    char *name;
    pol_ccr *ccrs; /* sorted by index */
    size_t n_ccrs;
    /* Who may revert its CCRs: names, "self" for the component itself. Absent
     * (has_revert_by false): the component itself and its parent chain. */
    bool has_revert_by;
    char **revert_by;
    size_t n_revert_by;
} pol_component;

/* Reference PCR values: PCR i (when named in mask) may hold any of its n[i] values. */
typedef struct pol_pcrs {
    uint32_t mask;
    uint8_t n[KM_PCR_COUNT];
    uint8_t value[KM_PCR_COUNT][POLICY_MAX_PCR_VALUES][SRTM_DIGEST_LEN];
} pol_pcrs;

typedef enum pol_unlisted {
    POL_UNLISTED_UNTRUSTED = 0,   /* components/CCRs the policy does not name are untrusted
                                     (the default: fail closed) */
    POL_UNLISTED_REPLAY_ONLY = 1, /* ... are judged by the replay alone */
} pol_unlisted;

typedef enum pol_terminated {
    POL_TERMINATED_UNTRUSTED = 0, /* a terminated component, and all that depend on it, are
                                     untrusted */
    POL_TERMINATED_ACCEPTED = 1,  /* termination alone changes no verdict */
} pol_terminated;

struct srtm_verifier_policy {
    pol_pcrs proof;        /* the IRK certificate's PCRs must hold these */
    pol_pcrs running;      /* the joint quote's PCRs must hold these */
    bool allow_extra_pcrs; /* PCRs quoted but absent from the reference are accepted */
    pol_unlisted unlisted;
    pol_terminated terminated;
    pol_component *comps; /* sorted by name for bsearch */
    size_t n_comps;
    char **require;
    size_t n_require;
    uint8_t sha256[SRTM_DIGEST_LEN]; /* of the policy text as parsed (srtm_policy_parse) */
};

/* The policy's rules under the key name, exactly as the policy wrote it (a bare name or a
 * path), or NULL. Verdicts use policy_rules_for, which applies the path rule. */
const pol_component *policy_find_component(const srtm_verifier_policy *p, const char *name);
/* true when PCR pcr may hold value d under the reference r (one of its values). */
bool policy_pcr_allows(const pol_pcrs *r, unsigned pcr, const uint8_t d[SRTM_DIGEST_LEN]);
/* The rules for CCR index of c, or NULL. */
const pol_ccr *policy_find_ccr(const pol_component *c, uint32_t index);
/* The allowlist entry for digest d in ccr, or NULL. */
const pol_digest *policy_find_digest(const pol_ccr *ccr, const uint8_t d[SRTM_DIGEST_LEN]);

/* ---- results ---- */

typedef struct verify_check {
    char *name;
    bool ok;
    char *reason; /* "" when ok */
} verify_check;

typedef struct verify_verdict {
    char *name;
    char *path;      /* from component 0, '/'-joined; NULL when the report has none */
    bool in_report;  /* false: a name of the policy that matches no reported component */
    bool trusted;
    char **reasons;
    size_t n_reasons;
    bool *ccr_ok;    /* per CCR of the component (report order): its log replayed to its
                        value (the replay rule); NULL before the rule ran */
    size_t n_ccr_ok;
} verify_verdict;

/* ---- incremental verification (continuity.c) ---- */

/* What the verifier keeps of one IRREVERSIBLE CCR of a verified report. */
typedef struct verify_ccr_state {
    uint64_t handle;
    uint32_t index;
    uint64_t length;                /* entries verified */
    uint8_t value[SRTM_DIGEST_LEN]; /* their replay */
    bool resumable;                 /* none of them can give a reason under the policy */
} verify_ccr_state;

struct srtm_verify_state {
    uint8_t instance[SRTM_INSTANCE_LEN];
    uint32_t reset_count, restart_count;
    uint64_t seq;
    uint8_t policy_sha256[SRTM_DIGEST_LEN];
    verify_ccr_state *ccrs; /* ascending (handle, index), unique */
    size_t n_ccrs;
    char tainted[512];      /* not "": this run lied (the reason); see continuity_taint */
};

struct srtm_verify_result {
    bool ok;
    bool requested_ok; /* every requested component trusted, every policy name matched */
    bool needs_full;   /* only continuity failed, and only because the state was unusable */
    srtm_verify_state *next; /* the state to keep; NULL unless every evidence check passed
                              * but continuity's lie (then tainted) */
    verify_check *checks;
    size_t n_checks;
    verify_verdict *comps;
    size_t n_comps;
};

/* Bytes of an evidence-level check's reason. */
#define VERIFY_REASON_LEN 512u /* = sizeof(srtm_verify_state.tainted) */

/* The state's record of CCR (handle, index), or NULL. */
const verify_ccr_state *continuity_find(const srtm_verify_state *s, uint64_t handle,
                                        uint32_t index);

/*
 * Check 18 "continuity" of report rep against the state s (NULL: none) under policy p
 * (docs/verifier.md, "Incremental verification"); rep's handles are ascending and unique
 * (report-handles passed). true when it passed; otherwise the reason is in reason,
 * *needs_full tells whether only the state could not be used, and *internal whether the
 * verifier failed (memory, hashing): neither says anything about the host, and only a
 * failure with both false is a lie.
 */
bool continuity_check(const srtm_verifier_policy *p, const Srtm__CcrReport *rep,
                      const srtm_verify_state *s, char *reason, size_t size, bool *needs_full,
                      bool *internal);

/*
 * The state after rep, whose evidence-level checks all passed, judged under p with the
 * component verdicts v (v[i] of rep->components[i], after the replay rule): every
 * IRREVERSIBLE CCR whose log replayed to its value. *out is NULL for a report without a
 * 16-byte srtm instance. The caller owns *out (srtm_verify_state_free). SRTM_E_NO_MEMORY.
 */
SRTM_WUR srtm_err continuity_state(const srtm_verifier_policy *p, const Srtm__CcrReport *rep,
                                   const verify_verdict *v, srtm_verify_state **out);

/*
 * The state after rep, verified but for check continuity, which found a lie (reason):
 * the header of the state s of the same run (or, without one or of another run, of rep's
 * run) with no CCRs, marked tainted with reason (s's own when s is tainted already), so
 * that every later report of this run fails continuity too. *out is NULL for a report
 * without a 16-byte srtm instance. The caller owns *out. SRTM_E_NO_MEMORY.
 */
SRTM_WUR srtm_err continuity_taint(const srtm_verifier_policy *p, const Srtm__CcrReport *rep,
                                   const srtm_verify_state *s, const char *reason,
                                   srtm_verify_state **out);

/* true when every entry of r the allowlist judges (live measurements) is in rule's. */
bool verify_all_allowed(const Srtm__ReportCcr *r, const pol_ccr *rule);

/*
 * The policy's rules for a reported component c whose path is path (NULL: none): those
 * under the path, or, for the direct children of component 0 (parent 0) and component 0
 * itself (whose path is its name), under the bare name. *twice is set when both a bare name and a path name it (a policy that says two
 * things about one component). NULL when the policy does not name it.
 */
const pol_component *policy_rules_for(const srtm_verifier_policy *p,
                                      const Srtm__ReportComponent *c, const char *path,
                                      const pol_component **twice);

/*
 * The path a name of the policy (components key or require entry) stands for in a
 * report whose component 0 is named root (NULL: no component 0): a path as written; a
 * bare name is component 0 itself (when equal to root) or root/name. Into out; false
 * when it cannot name anything in this report.
 */
bool policy_resolve_name(const char *name, const char *root, char *out, size_t size);

/*
 * A component's own rules (every CCR replays to its value; the log entries are in the
 * allowlist or the value is the expected one), independent of the evidence-level checks
 * and of other components. Appends a reason to v for every failure and clears v->trusted
 * then; leaves v->trusted alone otherwise. SRTM_E_NO_MEMORY is the only error.
 */
SRTM_WUR srtm_err verify_component_rules(const srtm_verifier_policy *p,
                                         const Srtm__ReportComponent *c, verify_verdict *v);

/*
 * Everything srtm_verify decides after the TPM-level checks, on an already parsed report,
 * as if those checks had passed: the report-level checks (report-handles, continuity
 * without a state), each
 * component's own rules, the report's self-consistency and the dependency rule, and
 * "require". For unit tests of hand-built reports; rep is only read. On success the
 * caller owns *out (srtm_verify_result_free); SRTM_E_NO_MEMORY is the only error.
 */
SRTM_WUR srtm_err verify_report_only(const srtm_verifier_policy *p, const Srtm__CcrReport *rep,
                                     srtm_verify_result **out);

/* verify_report_only with the state of an earlier report (NULL: none), as
 * srtm_verify_with_state: the report-level checks are report-handles and continuity. */
SRTM_WUR srtm_err verify_report_state(const srtm_verifier_policy *p, const Srtm__CcrReport *rep,
                                      const srtm_verify_state *state, srtm_verify_result **out);

/*
 * The text of a parsed report (part of the report-parse check): every component name is
 * 1 to SRTM_MAX_NAME bytes of UTF-8 without '/', every log description at most
 * SRTM_MAX_DESC bytes of UTF-8. false with a reason otherwise. (A NUL inside a string
 * cannot be seen here; srtm_verify finds it by packing the report again.)
 */
bool report_text_ok(const Srtm__CcrReport *rep, char *reason, size_t size);

/* Component c's policy rules (allowlists, expected values) alone, as in the verdict. */
SRTM_WUR srtm_err verify_policy_rules(const srtm_verifier_policy *p,
                                      const Srtm__ReportComponent *c, verify_verdict *v);

#define VERIFY_NONE SIZE_MAX
/* The index in rep of the component with handle h, or VERIFY_NONE. */
size_t verify_find_handle(const Srtm__CcrReport *rep, uint64_t h);

/* Each component's path (paths[i] for rep->components[i], malloc'd, the caller frees
 * each; NULL when it has none: docs/verifier.md, "Names and paths"). SRTM_E_NO_MEMORY. */
SRTM_WUR srtm_err verify_paths(const Srtm__CcrReport *rep, char **paths);

/*
 * The report inside evidence, for the tools that describe evidence without judging it
 * (show, CEL, policy create): unpacked, its text checked (report_text_ok). Nothing is
 * verified. *ev_out and *rep_out are the caller's (free_unpacked). SRTM_E_MALFORMED
 * with a reason in why, SRTM_E_TOO_BIG, SRTM_E_NO_MEMORY.
 */
SRTM_WUR srtm_err evidence_open(const uint8_t *evidence, size_t len, Srtm__Evidence **ev_out,
                                Srtm__CcrReport **rep_out);

/* true when a is x or an ancestor of x by the report's parent fields. */
bool verify_in_parent_chain(const Srtm__CcrReport *rep, uint64_t a, uint64_t x);

/*
 * The rules over each component's history (history.c): its dependency records replay to
 * its edges, each removed dependency judged at its cut, each revert made by a component
 * allowed to make it. v[i] is the verdict of rep->components[i]. SRTM_E_NO_MEMORY,
 * SRTM_E_CRYPTO.
 */
SRTM_WUR srtm_err verify_history(sha256_hasher *h, const srtm_verifier_policy *p,
                                 const Srtm__CcrReport *rep, verify_verdict *v);

/* Append a formatted reason to v and mark it untrusted. */
SRTM_WUR srtm_err verdict_fail(verify_verdict *v, const char *fmt, ...) SRTM_PRINTF(2, 3);

/* Free the members of v (not v itself). */
void verdict_clear(verify_verdict *v);

#endif /* SRTM_VERIFY_INT_H */
