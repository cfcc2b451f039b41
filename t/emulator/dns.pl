#!/usr/bin/perl

# A DNS server for the tests, over UDP: A records from a zone file read at
# each query, so that a test changes the answer (or silences the server)
# by rewriting the file.
#
#   perl t/emulator/dns.pl --listen 127.0.0.1:PORT --zone-file FILE
#       [--ttl SECONDS] [--record FILE] [--pid-file FILE]
#
# The zone file has a line "NAME [delay=SECONDS] ADDRESS [ADDRESS ...]" or
# "NAME silent" per name, or the one word "silent": then no query is
# answered.  A query for an A record of a name there gets its addresses,
# with the TTL, SECONDS later if delay= says so (other queries answered
# meanwhile); any other type of a name there, an empty answer; a name not
# there, NXDOMAIN; a silent name, nothing.  Each query is recorded as a
# JSON line: {"time":..., "name":..., "type":..., "answer": [...]}
# ("answer" is null when silent).

use strict;
use warnings;

use Getopt::Long;
use IO::Select;
use IO::Socket::INET;
use JSON::PP;
use Time::HiRes qw(time);

my %opt = (ttl => 1);
GetOptions(\%opt, 'listen=s', 'zone-file=s', 'ttl=i', 'record=s',
           'pid-file=s')
    and $opt{listen} && $opt{'zone-file'}
    or die "usage: $0 --listen HOST:PORT --zone-file FILE [--ttl N]"
         . " [--record FILE] [--pid-file FILE]\n";

my $socket = IO::Socket::INET->new(LocalAddr => $opt{listen}, Proto => 'udp')
    or die "listen on $opt{listen}: $@\n";

if ($opt{'pid-file'}) {
    open my $fh, '>', $opt{'pid-file'} or die;
    print $fh "$$\n";
    close $fh;
}

$SIG{TERM} = sub { exit 0 };

sub zone {
    open my $fh, '<', $opt{'zone-file'} or return {};
    my %zone;
    while (<$fh>) {
        my ($name, @addrs) = split;
        next unless defined $name;
        return undef if $name eq 'silent';
        $zone{lc $name} = \@addrs;
        $zone{lc $name} = undef if "@addrs" eq 'silent';
    }
    return \%zone;
}

sub record {
    my ($entry) = @_;
    return unless $opt{record};
    open my $fh, '>>', $opt{record} or return;
    print $fh encode_json($entry), "\n";
    close $fh;
}

# answers held back by delay=: [time due, reply, peer], in that order
my @held;
my $select = IO::Select->new($socket);

while (1) {
    my $wait = @held ? $held[0][0] - time : undef;
    $wait = 0 if defined $wait && $wait < 0;

    if ($select->can_read($wait)) {
        query();
    }

    while (@held && $held[0][0] <= time) {
        my ($due, $reply, $peer) = @{ shift @held };
        $socket->send($reply, 0, $peer);
    }
}

sub query {
    my $peer = $socket->recv(my $query, 512) // return;
    return if length $query < 17;

    my ($id, $flags, $qdcount) = unpack 'n n n', $query;
    return if $qdcount != 1 || $flags & 0x8000;

    # the question: labels, then type and class
    my ($pos, @labels) = (12);
    while ($pos < length $query) {
        my $len = ord substr $query, $pos, 1;
        $pos++;
        last if $len == 0;
        push @labels, substr $query, $pos, $len;
        $pos += $len;
    }
    return if $pos + 4 > length $query;
    my ($type) = unpack 'n', substr $query, $pos, 2;
    my $question = substr $query, 12, $pos + 4 - 12;
    my $name = lc join '.', @labels;

    my $zone = zone();
    if (!defined $zone || (exists $zone->{$name} && !$zone->{$name})) {
        record({ time => time, name => $name, type => $type,
                 answer => undef });
        return;
    }

    my @addrs = @{ $zone->{$name} // [] };
    my ($delay) = map { /^delay=([\d.]+)$/ ? $1 : () } @addrs;
    @addrs = grep { !/^delay=/ } @addrs;

    my @answer = (exists $zone->{$name} && $type == 1) ? @addrs : ();
    my $rcode = exists $zone->{$name} ? 0 : 3;

    my $reply = pack('n n n n n n', $id, 0x8180 | $rcode,
                     1, scalar @answer, 0, 0) . $question;
    for my $a (@answer) {
        $reply .= pack('n n n N n', 0xc00c, 1, 1, $opt{ttl}, 4)
                . pack('C4', split /\./, $a);
    }

    record({ time => time, name => $name, type => $type,
             answer => \@answer, rcode => $rcode,
             ($delay ? (delay => $delay) : ()) });

    if ($delay) {
        @held = sort { $a->[0] <=> $b->[0] }
                @held, [time + $delay, $reply, $peer];
        return;
    }

    $socket->send($reply, 0, $peer);
}
