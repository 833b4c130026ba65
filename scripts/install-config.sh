#!/bin/sh
# meson install script: install the sample srtmd.conf as SYSCONFDIR/srtm/srtmd.conf unless
# a configuration is already there. An existing file is never replaced (srtm-launch
# measures it and the IRK is sealed to that measurement); the sample then goes beside it
# as srtmd.conf.sample.
# Usage: install-config.sh SAMPLE SYSCONFDIR (absolute; DESTDIR is honoured)
set -eu
sample=$1 dir="${DESTDIR:-}$2/srtm"
mkdir -p "$dir"
if [ -e "$dir/srtmd.conf" ]; then
  install -m 0644 "$sample" "$dir/srtmd.conf.sample"
  echo "install-config: $2/srtm/srtmd.conf exists, left as it is; sample in srtmd.conf.sample"
else
  install -m 0644 "$sample" "$dir/srtmd.conf"
fi
