// The boot environment's own files: /init (PID 1), the DHCP hook, the power shim and the settings file the media carry.

/**
 * PID 1 of the boot environment. It mounts the basics, loads every driver in /etc/modules.order,
 * asks for an address by DHCP on every wired link, opens a troubleshooting shell on a second
 * console, then runs the client on the console (again and again, with a menu, when it ends).
 * Kernel command line: `deployr.server=URL` (or several, `URL,URL`, tried in order by the client)
 * and `deployr.fingerprint=SHA256` override the media's settings; `deployr.shell=TTY` adds a shell
 * on that terminal (e.g. ttyS1); `deployr.noclient` gives a shell on the console instead of the client.
 */
export const INIT_SCRIPT = `#!/bin/sh
# deployr boot environment: PID 1 (written by deployr media build)
export PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin HOME=/root TERM=linux
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /run /tmp /root
mount -t devpts devpts /dev/pts
mount -t tmpfs -o mode=0755 tmpfs /run
[ -d /sys/firmware/efi/efivars ] && mount -t efivarfs efivarfs /sys/firmware/efi/efivars 2>/dev/null
say() { echo "deployr: $*"; }
DEPLOYR_SERVER=''; DEPLOYR_FINGERPRINT=''; SHELL_TTYS=''; NOCLIENT=''
. /etc/deployr/boot.conf
for arg in $(cat /proc/cmdline); do
  case "$arg" in
    deployr.server=*) DEPLOYR_SERVER="\${arg#*=}" ;;
    deployr.fingerprint=*) DEPLOYR_FINGERPRINT="\${arg#*=}" ;;
    deployr.shell=*) SHELL_TTYS="$SHELL_TTYS \${arg#*=}" ;;
    deployr.noclient) NOCLIENT=1 ;;
  esac
done
say "boot environment $DEPLOYR_MEDIA_VERSION, kernel $(uname -r), $(grep -c ^processor /proc/cpuinfo) CPU, $(awk '/MemTotal/{print int($2/1024)}' /proc/meminfo) MiB"

# A troubleshooting shell on the second screen (Alt+F2) and on any terminal named with deployr.shell=.
shell_on() {
  [ -c "/dev/$1" ] || return 0
  ( while :; do
      setsid sh -c "exec sh -i </dev/$1 >/dev/$1 2>&1" 2>/dev/null || sleep 5
      sleep 1
    done ) &
}
[ -c /dev/tty2 ] && { echo "deployr boot environment: troubleshooting shell" > /dev/tty2 2>/dev/null && shell_on tty2; }
for t in $SHELL_TTYS; do shell_on "$t"; say "a shell is open on $t"; done

say "loading drivers..."
n=0; ok=0
while read -r m; do
  n=$((n + 1))
  insmod "/lib/modules/$m" 2>/dev/null && ok=$((ok + 1))
done < /etc/modules.order
say "loaded $ok of $n drivers (the others are for hardware this machine does not have)"
# Secure Boot: the 5th byte of the SecureBoot EFI variable (4 bytes of attributes, then 1 = on).
SECURE_BOOT=not-uefi
if [ -d /sys/firmware/efi ]; then
  grep -q " efivarfs " /proc/mounts || mount -t efivarfs efivarfs /sys/firmware/efi/efivars 2>/dev/null
  sbvar=/sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c
  SECURE_BOOT=off
  # Through a pipe: efivarfs files cannot seek, so od -j on the file itself reads nothing.
  [ -r "$sbvar" ] && [ "$(cat "$sbvar" | od -An -tu1 -j4 -N1 | tr -d ' ')" = 1 ] && SECURE_BOOT=on
fi
case "$SECURE_BOOT" in
  on) say "Secure Boot: on (the firmware checked shim, GRUB and the kernel; the kernel is locked down)" ;;
  off) say "Secure Boot: off" ;;
  *) say "Secure Boot: not a UEFI boot" ;;
esac
export DEPLOYR_SECURE_BOOT="$SECURE_BOOT"
for d in /sys/block/*; do
  b=\${d##*/}
  case "$b" in loop*|ram*) continue ;; esac
  say "disk /dev/$b: $(( $(cat "$d/size") / 2048 )) MiB"
done

ip link set lo up
links=''
for d in /sys/class/net/*; do
  l=\${d##*/}
  [ "$l" = lo ] && continue
  [ -d "$d/wireless" ] && continue
  links="$links $l"
  ip link set "$l" up
  udhcpc -i "$l" -b -t 4 -T 3 -A 5 -s /etc/udhcpc.script -p "/run/udhcpc.$l.pid" >/dev/null 2>&1
done
[ -z "$links" ] && say "no wired network link found: this machine may need a driver the boot media do not have (press Alt+F2 for a shell)"
addresses() { ip -4 -o addr show scope global 2>/dev/null | awk '{print $2 " " $4}'; }
i=0
while [ -n "$links" ] && [ -z "$(addresses)" ]; do
  [ $((i % 5)) = 0 ] && say "waiting for an address by DHCP on$links..."
  i=$((i + 1)); sleep 1
done
addresses | while read -r l a; do say "network $l: $a"; done

if [ -n "$NOCLIENT" ]; then
  say "deployr.noclient: a shell on the console"
  exec setsid cttyhack sh
fi
[ -z "$DEPLOYR_SERVER" ] && say "no server is set: boot with deployr.server=https://HOST:7281 (several: separated by commas) deployr.fingerprint=SHA256"
while :; do
  say "starting the client: server $DEPLOYR_SERVER, certificate SHA-256 $DEPLOYR_FINGERPRINT"
  # On a serial console the terminal has no size (0 0): give it one, or prompts wrap after every character.
  DEPLOYR_SERVER="$DEPLOYR_SERVER" DEPLOYR_FINGERPRINT="$DEPLOYR_FINGERPRINT" setsid cttyhack sh -c '
    case "$(tty 2>/dev/null)" in /dev/ttyS*|/dev/ttyAMA*|/dev/hvc*) stty rows 24 cols 80 2>/dev/null ;; esac
    exec node /opt/deployr/deployr-client.mjs client --boot --server "$DEPLOYR_SERVER" \\
      \${DEPLOYR_FINGERPRINT:+--fingerprint "$DEPLOYR_FINGERPRINT"} --state-dir /run/deployr-client'
  rc=$?
  say "the client ended (exit code $rc)"
  printf 'deployr: Enter = start the client again, s = shell, r = restart, p = power off: '
  read -r answer
  case "$answer" in
    s*) say "exit the shell to come back here"; setsid cttyhack sh ;;
    r*) sync; reboot -f ;;
    p*) sync; poweroff -f ;;
  esac
done
`;

/** busybox udhcpc does nothing without a hook: this one sets the address and the default route. */
export const UDHCPC_SCRIPT = `#!/bin/sh
case "$1" in
  bound|renew)
    ip addr flush dev "$interface"
    ip addr add "$ip/\${mask:-24}" dev "$interface"
    [ -n "$router" ] && ip route replace default via "\${router%% *}" dev "$interface"
    [ -n "$dns" ] && for d in $dns; do echo "nameserver $d"; done > /etc/resolv.conf
    ;;
  deconfig) ip addr flush dev "$interface"; ip link set "$interface" up ;;
esac
exit 0
`;

/**
 * The client asks `systemctl reboot|poweroff` for a FinishAction on Linux; there is no init system
 * here, so this stand-in syncs the disks and restarts or powers off at once.
 */
export const SYSTEMCTL_SHIM = `#!/bin/sh
case "$1" in
  reboot) echo "deployr: restarting" > /dev/console; sync; reboot -f ;;
  poweroff|halt) echo "deployr: powering off" > /dev/console; sync; poweroff -f ;;
  *) echo "systemctl: only reboot and poweroff exist in the deployr boot environment" >&2; exit 1 ;;
esac
`;

/** The media's settings, sourced by /init: only the server URL (or several, separated by commas) and its certificate fingerprint (never a secret). */
export function bootConf(server: string, fingerprint: string, mediaVersion: string): string {
  return `# written by deployr media build: no secret here, only where the server is and how to recognise it\nDEPLOYR_SERVER='${server}'\nDEPLOYR_FINGERPRINT='${fingerprint}'\nDEPLOYR_MEDIA_VERSION='${mediaVersion}'\n`;
}
