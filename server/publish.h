/*
 * publish.h — ringfenced's TUF publisher: approved releases go into the TUF
 * repository that `ringfence repo init` made (libringfence's tuf_repo.h, the
 * code `ringfence repo` runs), are signed and published when the server holds
 * the keys, and otherwise wait, staged, for the offline key holders. The
 * publisher also keeps the online roles (snapshot, timestamp) fresh and says
 * whether a target is in what agents can see.
 *
 * Locking: the repository is opened, and its lock (REPO/.lock) taken, only
 * for the length of one call that edits it (rfd_publisher_add,
 * rfd_publisher_refresh when something is due) and released before the call
 * returns. The publisher never holds it between calls, so key holders can
 * run `ringfence repo sign/snapshot/timestamp/publish` on the same directory
 * while the server runs; a call that meets their lock fails with RF_E_IO
 * ("in use") and is simply retried, since every call is idempotent.
 *
 * Internal to the server; every function is called under the server's own
 * mutex, so none locks anything itself.
 */
#ifndef RINGFENCED_PUBLISH_H
#define RINGFENCED_PUBLISH_H

#include <stddef.h>
#include <stdint.h>

#include "ringfence/ringfence.h"

typedef struct rfd_publisher rfd_publisher;

typedef struct rfd_publisher_opts {
    const char *repo_dir;      /* a repository made by `ringfence repo init` */
    const char *public_dir;    /* where it is published (served at /tuf/); NULL: repo_dir/public */
    const char *targets_key;   /* private key file, or NULL: targets are signed offline */
    const char *snapshot_key;  /* online keys; NULL: snapshot/timestamp are made offline too */
    const char *timestamp_key;
} rfd_publisher_opts;

/*
 * Check that o->repo_dir opens as a repository (opened and closed again: see
 * the locking note above) and load the keys given; each must be a key the
 * repository's root lists for its role (RF_E_SIGNATURE otherwise). Errors
 * name the file. The opts strings are copied. Caller frees *out with
 * rfd_publisher_free.
 */
rf_rc rfd_publisher_open(const rfd_publisher_opts *o, rfd_publisher **out, rf_err *err) RF_WUR;
/* NULL-safe. Removes the publisher's private scratch directory. */
void rfd_publisher_free(rfd_publisher *p);
/* The directory published into (owned by p). */
const char *rfd_publisher_public_dir(const rfd_publisher *p);

/*
 * Stage buf[0..len) as target `name` ("channels/291/5.rfc") with custom
 * metadata custom_json (a JSON object text, or NULL, copied as the target's
 * "custom"), then, if the targets key is loaded, sign targets, make snapshot
 * and timestamp with the online keys and publish.
 *
 * *published = 1 when the target is now in the published, signed
 * repository; 0 when it is staged and waits for signatures made offline:
 * then why (if not NULL; whylen bytes, always NUL-terminated, cut if short)
 * holds the exact commands that finish it (`ringfence repo sign DIR --role
 * targets --key TARGETS_KEY && ringfence repo snapshot ... && ... publish
 * DIR PUBLIC`). With the online keys loaded, signing targets is enough: the
 * next rfd_publisher_refresh makes snapshot and timestamp and publishes.
 * When *published is 1, why is "".
 *
 * Adding the same name with the same bytes and custom metadata again is not
 * an error and changes nothing that is already done (a retry after a crash
 * finishes the publication). A name already staged or published with other
 * bytes or other custom metadata is refused (RF_E_USAGE): a released name
 * never changes meaning; give new content a new name. A name the repository
 * refuses ("../x", too long, ...) is RF_E_USAGE.
 */
rf_rc rfd_publisher_add(rfd_publisher *p, const char *name, const uint8_t *buf, size_t len,
                        const char *custom_json, int *published, char *why, size_t whylen,
                        rf_err *err) RF_WUR;

/*
 * 1 if target `name` is listed with exactly this sha256 (64 hex digits, either
 * case) in the published repository as an agent sees it: the library's TUF
 * client, trusting public_dir/metadata/1.root.json, updates from public_dir
 * and finds the target. So signatures, versions and expiry are checked, and
 * a publication made by another process (`ringfence repo publish`) counts.
 * The client's view is kept and updated only when the published
 * timestamp.json changes (its bytes are read and hashed at every call, a
 * file of at most a few kilobytes). 0 for anything else, errors included.
 */
int rfd_publisher_is_published(rfd_publisher *p, const char *name, const char *sha256_hex);

/*
 * Keep the repository fresh, at time `now` (Unix seconds; 0: the clock): if
 * the timestamp or snapshot (or targets, when its key is loaded) expires
 * within margin_s seconds of now, renew and re-sign it, and publish. Also
 * completes a publication whose offline signatures have all been made
 * (targets signed offline: snapshot, timestamp, publish). No-op without an
 * online key. Cheap when nothing is due: the repository is opened only when
 * an expiry is near, when one of its files changed since the last look, or
 * ten minutes after the last look.
 *
 * A publication publishes every role, so while a change waits for offline
 * signatures the timestamp cannot be renewed: when it is due then, this
 * returns RF_E_SIGNATURE with the commands that unblock it (and the server
 * should make noise: agents stop updating when the timestamp expires).
 */
rf_rc rfd_publisher_refresh(rfd_publisher *p, int64_t now, int64_t margin_s, rf_err *err) RF_WUR;

#endif
