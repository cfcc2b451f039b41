#!/usr/bin/perl

# A TCP relay on loopback that holds every byte for DELAY_MS milliseconds
# each way, as a WAN link between a proxy and its upstream would:
#
#   perl bench/relay.pl LISTEN_PORT UPSTREAM_PORT DELAY_MS
#
# It listens on 127.0.0.1:LISTEN_PORT and connects to 127.0.0.1:UPSTREAM_PORT,
# never to any other address.  A new connection costs the TCP handshake's
# round trip as well: the client's first bytes reach the upstream no sooner
# than three delays after it connected (SYN, SYN-ACK, then the data), as
# over a real link.  The end of a stream (FIN) is delayed like the bytes
# before it; a reset closes both sides at once.
#
# One process, select(), TCP_NODELAY on both sides.  It prints "listening"
# once the socket listens; on SIGTERM or SIGINT it prints "accepted N" (the
# connections it relayed) and exits; it exits on its own when its parent is
# gone.

use strict;
use warnings;

use Errno qw(EAGAIN EINTR EWOULDBLOCK);
use IO::Socket::INET;
use Socket qw(IPPROTO_TCP TCP_NODELAY SHUT_WR);
use Time::HiRes qw(time);

my ($LISTEN, $UPSTREAM, $DELAY_MS) = @ARGV;
die "usage: $0 LISTEN_PORT UPSTREAM_PORT DELAY_MS\n"
    unless 3 == grep { defined && /^\d+$/ } $LISTEN, $UPSTREAM, $DELAY_MS;

my $DELAY = $DELAY_MS / 1000;
my $PARENT = getppid;

$| = 1;
$SIG{PIPE} = 'IGNORE';

my $listener = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
                                     LocalPort => $LISTEN, Proto => 'tcp',
                                     Listen => 1024, ReuseAddr => 1)
    or die "listen 127.0.0.1:$LISTEN: $!\n";
$listener->blocking(0);

# fileno => one side of a relayed connection:
#   { fh, fd, peer (the other side), queue => [ [due, bytes | undef] ... ]
#     (what is to be written to this side, undef for the end of the stream),
#     not_before (no byte written before), read_done, write_done, blocked }
my %side;
my $accepted = 0;
my $stop;

$SIG{TERM} = $SIG{INT} = sub { $stop = 1 };

print "listening\n";

until ($stop) {
    exit 0 if getppid != $PARENT;

    my $now = time;
    my ($rin, $win) = ('', '');
    my $timeout = 0.5;

    vec($rin, fileno $listener, 1) = 1;
    for my $s (my @all = values %side) {
        vec($rin, $s->{fd}, 1) = 1 unless $s->{read_done};
        next unless @{ $s->{queue} };
        if ($s->{blocked}) {
            vec($win, $s->{fd}, 1) = 1;
        } else {
            my $wait = $s->{queue}[0][0] - $now;
            $timeout = $wait < 0 ? 0 : $wait if $wait < $timeout;
        }
    }

    my $n = select(my $rout = $rin, my $wout = $win, undef, $timeout);
    if ($n < 0) {
        next if $! == EINTR;
        die "select: $!\n";
    }

    if ($n > 0 && vec($rout, fileno $listener, 1)) {
        while (my $client = $listener->accept) {
            accept_one($client);
        }
    }

    $now = time;

    for my $s (my @all = values %side) {
        next unless $side{ $s->{fd} };
        $s->{blocked} = 0 if $n > 0 && vec($wout, $s->{fd}, 1);
        read_side($s, $now) if $n > 0 && !$s->{read_done}
                               && vec($rout, $s->{fd}, 1);
    }

    for my $s (my @all = values %side) {
        flush($s, $now) if $side{ $s->{fd} };
    }
}

print "accepted $accepted\n";
exit 0;

sub accept_one {
    my ($client) = @_;
    my $up = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                   PeerPort => $UPSTREAM, Proto => 'tcp',
                                   Timeout => 2);
    unless ($up) {
        close $client;
        return;
    }
    $accepted++;

    my $now = time;
    my %c = (fh => $client, queue => [], not_before => 0);
    my %u = (fh => $up, queue => [], not_before => $now + 3 * $DELAY);
    for my $s (\%c, \%u) {
        $s->{fh}->blocking(0);
        setsockopt($s->{fh}, IPPROTO_TCP, TCP_NODELAY, 1);
        $s->{fd} = fileno $s->{fh};
        $side{ $s->{fd} } = $s;
    }
    $c{peer} = \%u;
    $u{peer} = \%c;
}

# what this side sent, queued for the other side to be written after the
# delay
sub read_side {
    my ($s, $now) = @_;
    my $to = $s->{peer};
    my $got = sysread($s->{fh}, my $buf, 65536);

    if (!defined $got) {
        return if $! == EAGAIN || $! == EWOULDBLOCK || $! == EINTR;
        return close_pair($s);
    }

    my $due = $now + $DELAY;
    $due = $to->{not_before} if $due < $to->{not_before};

    if ($got == 0) {
        $s->{read_done} = 1;
        push @{ $to->{queue} }, [ $due, undef ];
    } else {
        push @{ $to->{queue} }, [ $due, $buf ];
    }
}

# writes what is due to this side
sub flush {
    my ($s, $now) = @_;
    my $q = $s->{queue};

    while (@$q && !$s->{blocked} && $q->[0][0] <= $now) {
        my $bytes = $q->[0][1];

        if (!defined $bytes) {
            shift @$q;
            shutdown $s->{fh}, SHUT_WR;
            $s->{write_done} = 1;
            last;
        }

        my $w = syswrite $s->{fh}, $bytes;
        if (!defined $w) {
            if ($! == EAGAIN || $! == EWOULDBLOCK || $! == EINTR) {
                $s->{blocked} = 1;
                last;
            }
            return close_pair($s);
        }

        if ($w < length $bytes) {
            substr($q->[0][1], 0, $w) = '';
            $s->{blocked} = 1;
            last;
        }
        shift @$q;
    }

    my $p = $s->{peer};
    close_pair($s) if $s->{read_done} && $s->{write_done}
                      && $p->{read_done} && $p->{write_done};
}

sub close_pair {
    my ($s) = @_;
    for my $x ($s, $s->{peer}) {
        delete $side{ $x->{fd} };
        close $x->{fh};
    }
    delete $s->{peer}{peer};
    delete $s->{peer};
}
