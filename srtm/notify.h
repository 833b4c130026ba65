/* Readiness for systemd's Type=notify: the sd_notify(3) datagram protocol. */
#ifndef SRTM_NOTIFY_H
#define SRTM_NOTIFY_H

#include <stdbool.h>

/* Send state ("READY=1", "STOPPING=1") to $NOTIFY_SOCKET. true when sent or when there is
 * no $NOTIFY_SOCKET (not started by systemd); false, with a warning logged, otherwise. */
bool notify_systemd(const char *state);

#endif
