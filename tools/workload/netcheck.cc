// SPDX-License-Identifier: GPL-2.0
//
// usw-netcheck: sends raw Ethernet frames of every size between two interfaces wired to each
// other (in the demo, two emulated e1000s on a QEMU hub), alternately in each direction, and
// checks every received byte. Each frame is a DMA out of one NIC and into the other; see usage.
#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <span>
#include <string>

#include "cli.h"
#include "workload.h"

using namespace usw_workload;

namespace {

constexpr char kUsage[] = R"(usage: usw-netcheck --a IF --b IF [options]

Sends raw Ethernet frames (ethertype 0x88b5) between interfaces a and b, alternately a -> b
and b -> a, with total lengths from 60 to 1514 bytes, and compares every received frame
byte for byte with what was sent. Brings both interfaces up (promiscuous) and waits for
their carrier. A few frames are in flight at a time; one not received within the timeout is
sent again. A frame with wrong content, length or place is corrupt; one that never arrives
is lost. Both are failures. Retransmitted copies are checked too, then ignored. After the
last frame, keeps receiving for one more timeout: late copies are checked in this run, not
left for the next one to receive.

  --a IF, --b IF     the two interfaces, wired to each other
  --frames N         frames to verify (default 2000)
  --seconds T        keep going until T seconds have passed, and at least --frames
  --seed S           content seed, decimal or 0x hex (default 1)
  --window W         frames in flight (default 8; 1 is stop-and-wait)
  --timeout-ms MS    wait this long before sending a frame again (default 200)
  --retries R        give a frame up as lost after R retransmissions (default 10)
  --carrier-wait T   seconds to wait for carrier on both interfaces (default 10)
  --label NAME       label for the RESULT line (default "-")
  --closed           the link carries only this run's frames: an intact frame of another run
                     (another seed) is a stray, a failure, rather than ignored. Frames of other
                     ethertypes are ignored either way

Progress goes to stdout, errors to stderr. The last line on stdout is:
  RESULT tool=net label=NAME frames=N bytes=B corrupt=C lost=L stray=Y retries=R MBps=X.X
         seconds=S.S status=ok|FAIL
(one line; frames and bytes count distinct frames verified; stray is 0 without --closed;
seconds and MBps, 10^6 bytes per second, leave out the final timeout).
Exit status: 0 ok, 1 status=FAIL, 2 usage or setup error (no RESULT line).
)";

struct Options {
  std::string ifname[2];
  uint64_t seed = 1;
  double carrier_wait = 10;
  NetOptions net;  // the run's
};

Options ParseOptions(int argc, char** argv) {
  Options o;
  Args args(argc, argv);
  std::string_view name;
  while (args.Next(name)) {
    if (name == "-h" || name == "--help") {
      std::fputs(kUsage, stdout);
      std::exit(0);
    } else if (name == "--a") {
      o.ifname[0] = args.Value();
    } else if (name == "--b") {
      o.ifname[1] = args.Value();
    } else if (name == "--frames") {
      o.net.frames = args.Parsed(ParseU64);
    } else if (name == "--seconds") {
      o.net.seconds = args.Parsed(ParseSeconds);
    } else if (name == "--seed") {
      o.seed = args.Parsed(ParseU64);
    } else if (name == "--window") {
      o.net.window = args.Parsed(ParseU64);
    } else if (name == "--timeout-ms") {
      o.net.timeout_ms = args.Parsed(ParseU64);
    } else if (name == "--retries") {
      o.net.retries = args.Parsed(ParseU64);
    } else if (name == "--closed") {
      o.net.closed = true;
    } else if (name == "--carrier-wait") {
      o.carrier_wait = args.Parsed(ParseSeconds);
    } else if (name == "--label") {
      o.net.label = args.Value();
    } else {
      args.Unknown();
    }
  }
  if (o.ifname[0].empty() || o.ifname[1].empty()) USW_DIE("--a and --b are required; see --help");
  if (o.ifname[0] == o.ifname[1]) USW_DIE("--a and --b must be different interfaces");
  for (const std::string& n : o.ifname)
    if (n.size() >= IFNAMSIZ || n.find('/') != n.npos)
      USW_DIE("bad interface name '%s'", n.c_str());
  if (o.net.window < 1 || o.net.window > 256) USW_DIE("--window wants 1..256");
  if (o.net.timeout_ms < 1 || o.net.timeout_ms > 60000) USW_DIE("--timeout-ms wants 1..60000");
  o.net.names = {o.ifname[0], o.ifname[1]};
  return o;
}

struct Side {
  const char* name;
  int ifindex;
  Mac mac;
  int fd;
};

// Raises the interface and opens a packet socket that sees only our ethertype on it.
Side Open(const std::string& ifname) {
  const char* n = ifname.c_str();
  // Protocol 0 until bind: the socket receives nothing from other interfaces meanwhile.
  int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
  if (fd < 0) USW_DIE("socket(AF_PACKET): %s (needs CAP_NET_RAW)", std::strerror(errno));
  ifreq ifr{};
  std::memcpy(ifr.ifr_name, n, ifname.size() + 1);
  if (ioctl(fd, SIOCGIFINDEX, &ifr) != 0) USW_DIE("%s: %s", n, std::strerror(errno));
  int ifindex = ifr.ifr_ifindex;
  if (ioctl(fd, SIOCGIFHWADDR, &ifr) != 0)
    USW_DIE("%s: SIOCGIFHWADDR: %s", n, std::strerror(errno));
  if (ifr.ifr_hwaddr.sa_family != ARPHRD_ETHER) USW_DIE("%s: not an Ethernet interface", n);
  Mac mac;
  std::memcpy(mac.data(), ifr.ifr_hwaddr.sa_data, mac.size());
  if (ioctl(fd, SIOCGIFMTU, &ifr) != 0) USW_DIE("%s: SIOCGIFMTU: %s", n, std::strerror(errno));
  if (ifr.ifr_mtu < int(kMaxFrame - kEthHeader))
    USW_DIE("%s: MTU %d, frames of up to %zu bytes need %zu", n, ifr.ifr_mtu, kMaxFrame,
            kMaxFrame - kEthHeader);
  // Promiscuous as well as addressing each frame to the receiver's MAC: the frames must get
  // through whatever the MACs are.
  if (ioctl(fd, SIOCGIFFLAGS, &ifr) != 0) USW_DIE("%s: SIOCGIFFLAGS: %s", n, std::strerror(errno));
  ifr.ifr_flags |= IFF_UP | IFF_PROMISC;
  if (ioctl(fd, SIOCSIFFLAGS, &ifr) != 0)
    USW_DIE("%s: bringing it up: %s", n, std::strerror(errno));

  // Room for bursts while we service the other socket; the FORCE variant ignores rmem_max.
  int rcvbuf = 4 << 20;
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)) != 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
  // Our own transmissions, looped back to packet sockets, are not receptions. Linux 4.20+;
  // sll_pkttype is checked as well.
  int one = 1;
  setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof(one));
  sockaddr_ll sll{};
  sll.sll_family = AF_PACKET;
  sll.sll_protocol = htons(kEtherType);
  sll.sll_ifindex = ifindex;
  if (bind(fd, reinterpret_cast<sockaddr*>(&sll), sizeof(sll)) != 0)
    USW_DIE("%s: bind: %s", n, std::strerror(errno));
  return {n, ifindex, mac, fd};
}

bool HasCarrier(const char* ifname) {
  char path[64];
  std::snprintf(path, sizeof(path), "/sys/class/net/%s/carrier", ifname);
  FILE* f = std::fopen(path, "re");
  if (!f) return false;
  int c = std::fgetc(f);  // reading fails (EINVAL) while the interface is down
  std::fclose(f);
  return c == '1';
}

void WaitCarrier(const Side (&sides)[2], double wait) {
  double deadline = Now() + wait;
  for (const Side& s : sides) {
    while (!HasCarrier(s.name)) {
      if (Now() >= deadline) USW_DIE("%s: no carrier after %g s", s.name, wait);
      usleep(50000);
    }
  }
}

// The two packet sockets as the run's Link.
class PacketLink : public Link {
 public:
  explicit PacketLink(const Side (&sides)[2]) : sides_(sides) {}

  double Now() override { return usw_workload::Now(); }

  Sent Send(uint64_t seq, std::span<const uint8_t> frame) override {
    int dir = FrameDir(seq);
    const Side& tx = sides_[dir];
    sockaddr_ll to{};
    to.sll_family = AF_PACKET;
    to.sll_protocol = htons(kEtherType);
    to.sll_ifindex = tx.ifindex;
    to.sll_halen = 6;
    std::memcpy(to.sll_addr, sides_[dir ^ 1].mac.data(), 6);
    for (;;) {
      ssize_t n = sendto(tx.fd, frame.data(), frame.size(), 0, reinterpret_cast<sockaddr*>(&to),
                         sizeof(to));
      if (n == ssize_t(frame.size())) return Sent::kOk;
      if (n < 0 && errno == EINTR) continue;
      // A full transmit queue drops the frame like the wire might; the timeout resends it.
      if (n < 0 && (errno == ENOBUFS || errno == EAGAIN)) return Sent::kDropped;
      usw_workload::Error("%s: sending frame %" PRIu64 ": %s", tx.name, seq,
                          n < 0 ? std::strerror(errno) : "short send");
      return Sent::kFailed;
    }
  }

  bool Wait(double seconds, const Receiver& rx) override {
    pollfd fds[2] = {{sides_[0].fd, POLLIN, 0}, {sides_[1].fd, POLLIN, 0}};
    int ms = std::max(1, int(seconds * 1e3 + 0.999));
    if (poll(fds, 2, ms) < 0 && errno != EINTR) {
      usw_workload::Error("poll: %s", std::strerror(errno));
      return false;
    }
    for (int side = 0; side < 2; side++)
      if (fds[side].revents && !Drain(side, rx)) return false;
    return true;
  }

  void Error(const std::string& line) override { usw_workload::Error("%s", line.c_str()); }
  void Say(const std::string& line) override { usw_workload::Say("%s", line.c_str()); }

 private:
  // Hands everything queued on the side's socket to rx.
  bool Drain(int side, const Receiver& rx) {
    uint8_t buf[kMaxFrame + 512];
    for (;;) {
      sockaddr_ll from{};
      socklen_t fromlen = sizeof(from);
      ssize_t n = recvfrom(sides_[side].fd, buf, sizeof(buf), MSG_DONTWAIT | MSG_TRUNC,
                           reinterpret_cast<sockaddr*>(&from), &fromlen);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return true;
        usw_workload::Error("%s: receiving: %s", sides_[side].name, std::strerror(errno));
        return false;
      }
      if (from.sll_pkttype == PACKET_OUTGOING) continue;
      // MSG_TRUNC returns the real length; an oversized frame is compared as far as it fits
      // and fails on its length.
      rx(side, std::span<const uint8_t>(buf, std::min<size_t>(size_t(n), sizeof(buf))));
    }
  }

  const Side (&sides_)[2];
};

}  // namespace

int main(int argc, char** argv) {
  g_tool = "usw-netcheck";
  Options o = ParseOptions(argc, argv);
  Side sides[2] = {Open(o.ifname[0]), Open(o.ifname[1])};
  WaitCarrier(sides, o.carrier_wait);
  Say("usw-netcheck: a %s (%s) <-> b %s (%s), %" PRIu64 " frames, seed %" PRIu64, sides[0].name,
      MacStr(sides[0].mac).c_str(), sides[1].name, MacStr(sides[1].mac).c_str(), o.net.frames,
      o.seed);
  PacketLink link(sides);
  NetResult r = RunNetCheck(o.net, {o.seed, sides[0].mac, sides[1].mac}, link);
  for (const Side& s : sides) close(s.fd);
  std::fflush(stderr);
  std::puts(FormatResult(r).c_str());
  return r.ok ? 0 : 1;
}
