#!/bin/sh
# Run Courier-IMAP from a private prefix, inside a private mount namespace.
#
# Usage (as root, from vt_webmail/testing/courier.py):
#   unshare --mount --pid --fork --kill-child --propagation private \
#       sh courier-ns.sh PREFIX ROOT USER serve
#   unshare --mount --propagation private sh courier-ns.sh PREFIX ROOT USER exec COMMAND...
#   nsenter --mount=/proc/PID/ns/mnt ...        (to run more commands in a running server's)
#
# Courier has its paths compiled in. In this namespace only (nothing changes outside it):
#   /usr          shows PREFIX/usr on top of the real /usr (read-only overlay): imapd,
#                 imaplogin, couriertcpd, couriertls, authdaemond, the authlib modules in
#                 /usr/lib/courier-authlib, libcourier-unicode, makeuserdb's makedatprog;
#   /etc/courier  is ROOT/etc/courier (bind mount on an overlay of /etc): imapd, imapd-ssl,
#                 authdaemonrc, userdb and userdb.dat written by the harness;
#   /run/courier  is ROOT/run (bind mount on an overlay of /run): the authdaemon socket.
#
# "serve" starts, in the foreground, authdaemond and the two couriertcpd listeners of Debian's
# init scripts (imapd: plain IMAP offering STARTTLS; imapd-ssl: implicit TLS through
# couriertls), all as USER, and waits. It is PID 1 of a PID namespace of its own: when it ends
# (SIGTERM, or SIGKILL to unshare's process group), the kernel kills everything left in the
# namespace. "exec" runs one command (makeuserdb) as USER with the same view of the files.
set -eu

prefix=$1 root=$2 user=$3 mode=$4
shift 4

# overlay TARGET STUB: show STUB's entries on top of TARGET, read-only. Mounts below TARGET
# (a container's /etc/hosts, /run/lock ...) would be hidden by the overlay: they are moved
# aside first and put back on top of it. (Mount points with blanks, which mountinfo escapes,
# are not handled.) mount -n everywhere: the read-only /run has no room for libmount's utab.
overlay() {
    target=$1 stub=$2 aside="$root/.mnt/aside$1"
    submounts=$(awk -v t="$target/" 'index($5, t) == 1 { print $5 }' /proc/self/mountinfo)
    moved=""
    for mount in $submounts; do
        # only the topmost ones: their own submounts move with them
        for other in $moved; do
            case "$mount/" in "$other"/*) continue 2 ;; esac
        done
        if [ -d "$mount" ]; then
            mkdir -p "$aside$mount"
        else
            mkdir -p "$(dirname "$aside$mount")"
            : >"$aside$mount"
        fi
        mount -n --move "$mount" "$aside$mount"
        moved="$moved $mount"
    done
    mount -n -t overlay overlay -o "lowerdir=$stub:$target" "$target"
    for mount in $moved; do
        mount -n --move "$aside$mount" "$mount"
    done
}

mkdir -p "$root/.mnt/etc/courier" "$root/.mnt/run/courier"
overlay /usr "$prefix/usr"
overlay /etc "$root/.mnt/etc"
overlay /run "$root/.mnt/run"
mount -n --bind "$root/etc/courier" /etc/courier
mount -n --bind "$root/run" /run/courier

as_user() {
    exec setpriv --reuid="$user" --regid="$user" --init-groups --inh-caps=-all -- "$@"
}

# listener NAME: what Debian's /usr/lib/courier/NAME start script (imapd or imapd-ssl) runs,
# with the configuration files sourced the same way, without courierlogger; as USER
listener() {
    . /etc/courier/imapd
    . /etc/courier/imapd-ssl
    umask "$IMAP_UMASK"
    [ -z "$IMAP_ULIMITD" ] || ulimit -v "$IMAP_ULIMITD"
    if [ "$1" = imapd ]; then
        # shellcheck disable=SC2016 # expanded by the inner shell
        command='IMAP_STARTTLS=$IMAPDSTARTTLS
            exec "$@" /usr/sbin/couriertcpd -address="$ADDRESS" \
                -maxprocs="$MAXDAEMONS" -maxperip="$MAXPERIP" $TCPDOPTS \
                "$PORT" /usr/lib/courier/courier/imaplogin /usr/bin/imapd "$MAILDIRPATH"'
    else
        # shellcheck disable=SC2016
        command='IMAP_TLS=1
            exec "$@" /usr/sbin/couriertcpd -address="$SSLADDRESS" \
                -maxprocs="$MAXDAEMONS" -maxperip="$MAXPERIP" $TCPDOPTS \
                "$SSLPORT" "$COURIERTLS" -server -tcpd \
                /usr/lib/courier/courier/imaplogin /usr/bin/imapd "$MAILDIRPATH"'
    fi
    exec env -i PATH=/usr/bin:/bin /bin/sh -c "
        set -a
        prefix=/usr exec_prefix=/usr sbindir=/usr/sbin bindir=/usr/bin
        . /etc/courier/imapd
        . /etc/courier/imapd-ssl
        $command" sh setpriv --reuid="$user" --regid="$user" --init-groups --inh-caps=-all --
}

case $mode in
exec)
    as_user "$@"
    ;;
serve)
    # PID 1 of its PID namespace: when it exits, the kernel kills every process left in the
    # namespace, even couriertcpd, which starts a session of its own (so killpg misses it).
    trap 'exit 0' TERM INT HUP
    set +u  # Courier's configuration files use unset variables
    (as_user /usr/lib/courier/courier-authlib/authdaemond) &
    # the start flags of the configuration files, read as the init scripts do
    start_imapd=$(. /etc/courier/imapd && echo "$IMAPDSTART")
    start_imapd_ssl=$(. /etc/courier/imapd-ssl && echo "$IMAPDSSLSTART")
    case $start_imapd in [yY]*) (listener imapd) & ;; esac
    case $start_imapd_ssl in [yY]*) (listener imapd-ssl) & ;; esac
    wait
    ;;
*)
    echo "courier-ns.sh: unknown mode $mode" >&2
    exit 2
    ;;
esac
