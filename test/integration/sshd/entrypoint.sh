#!/bin/sh
# Host key: /keys/ssh_host_ed25519_key when mounted (compose demo), else a fresh one.
# Authorized key: $AUTHORIZED_KEY (a whole authorized_keys line), or /keys/id_ed25519.pub.
set -eu
if [ -f /keys/ssh_host_ed25519_key ]; then
  cp /keys/ssh_host_ed25519_key /etc/ssh/ssh_host_ed25519_key
  chmod 600 /etc/ssh/ssh_host_ed25519_key
else
  ssh-keygen -q -t ed25519 -N '' -f /etc/ssh/ssh_host_ed25519_key
fi
authorized=${AUTHORIZED_KEY:-}
if [ -z "$authorized" ] && [ -f /keys/id_ed25519.pub ]; then authorized=$(cat /keys/id_ed25519.pub); fi
install -d -o filesync -g filesync -m 700 /home/filesync/.ssh
# With $RRSYNC_DIR, the key may only rsync into that directory (no shell): see docs/operations.md,
# "Restricted keys on the target".
if [ -n "${RRSYNC_DIR:-}" ]; then authorized="restrict,command=\"rrsync -no-lock $RRSYNC_DIR\" $authorized"; fi
printf '%s\n' "$authorized" > /home/filesync/.ssh/authorized_keys
chown filesync:filesync /home/filesync/.ssh/authorized_keys
chmod 600 /home/filesync/.ssh/authorized_keys
install -d -o filesync -g filesync /home/filesync/mirror
exec /usr/sbin/sshd -D -e -o HostKey=/etc/ssh/ssh_host_ed25519_key
