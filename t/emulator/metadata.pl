#!/usr/bin/perl

# A CVM instance metadata service for the tests: the role credentials
# endpoint only, on loopback.
#
#   metadata.pl --listen HOST:PORT --role NAME --period SECONDS
#       --lifetime SECONDS --seed WORD --secrets-file FILE --record FILE
#       [--revoke-every SECONDS] [--mode-file FILE] [--pid-file FILE]
#
# GET /latest/meta-data/cam/security-credentials/ lists the role;
# GET .../<role> answers its JSON.  The credentials rotate every --period
# seconds (generation N = seconds since start / period), each valid for
# --lifetime seconds from its generation's start: key and token derive
# from --seed and N (t/lib/CiJobsTest.pm role_key, role_token).  Every
# answer rewrites --secrets-file with the generations still valid, as
# ID:KEY:TOKEN:EXPIRES lines, for the CI emulator (--secrets-file), which
# accepts those only.  Each request is appended to --record as JSON.
#
# --revoke-every R revokes keys before their ExpiredTime: those of a
# generation are refused by CI from the first multiple of R seconds since
# start after the generation began, whatever ExpiredTime said (the
# secrets file gives CI that earlier end).  The record says when: start
# (the service's start) and, for a role's answer, revoked.
#
# --mode-file, read at each request, changes the answers: "ok" (or no
# file), "500", "timeout" (never answers), "malformed" (not JSON),
# "code" (Code is not Success), "past" (ExpiredTime in the past), "empty"
# (an empty role list), "norole" (404 for the role), "keepalive" (the
# answers say Connection: keep-alive and the connection stays open for
# 10 s), "dotrole" (the role list names ".."), "far" (ExpiredTime
# 99999999999).

use strict;
use warnings;

use Getopt::Long;
use IO::Socket::INET;
use JSON::PP;
use POSIX qw(WNOHANG);
use Time::HiRes qw(time);

my %opt = (period => 4, lifetime => 8, seed => 'seed', role => 'ci-gateway');
GetOptions(\%opt, 'listen=s', 'role=s', 'period=i', 'lifetime=i', 'seed=s',
           'secrets-file=s', 'record=s', 'mode-file=s', 'pid-file=s',
           'revoke-every=i')
    or die "usage\n";

my $PREFIX = '/latest/meta-data/cam/security-credentials/';
my $START = int(time);

my $server = IO::Socket::INET->new(Listen => 64, LocalAddr => $opt{listen},
                                   Proto => 'tcp', ReuseAddr => 1)
    or die "listen $opt{listen}: $!";

if ($opt{'pid-file'}) {
    open my $fh, '>', $opt{'pid-file'} or die;
    print $fh "$$\n";
    close $fh;
}

$SIG{TERM} = sub { exit 0 };
$SIG{CHLD} = sub { 1 while waitpid(-1, WNOHANG) > 0 };

sub key_of   { sprintf 'rolekey%s%020d', $opt{seed}, $_[0] }
sub token_of { sprintf 'roletoken%s%030d', $opt{seed}, $_[0] }
sub id_of    { sprintf 'AKIDrole%s%020d', $opt{seed}, $_[0] }

sub mode {
    return 'ok' unless $opt{'mode-file'} && open my $fh, '<', $opt{'mode-file'};
    my $m = <$fh> // 'ok';
    chomp $m;
    return $m || 'ok';
}

# when CI stops accepting generation G's keys: its ExpiredTime, or the
# revocation that comes first
sub refused_from {
    my ($g) = @_;
    my $exp = $START + $g * $opt{period} + $opt{lifetime};
    my $r = $opt{'revoke-every'} or return $exp;
    my $revoked = $START + (int($g * $opt{period} / $r) + 1) * $r;
    return $revoked < $exp ? $revoked : $exp;
}

sub write_secrets {
    my ($now) = @_;
    my $gen = int(($now - $START) / $opt{period});
    my $text = '';
    for my $g (grep { $_ >= 0 } $gen - 5 .. $gen) {
        my $exp = refused_from($g);
        next if $exp <= $now;
        $text .= join(':', id_of($g), key_of($g), token_of($g), $exp) . "\n";
    }
    my $tmp = "$opt{'secrets-file'}.tmp";
    open my $fh, '>', $tmp or die;
    print $fh $text;
    close $fh;
    rename $tmp, $opt{'secrets-file'};
}

sub record {
    my ($rec) = @_;
    return unless $opt{record};
    open my $fh, '>>', $opt{record} or return;
    print $fh encode_json($rec) . "\n";
    close $fh;
}

my $KEEPALIVE;

sub respond {
    my ($c, $status, $body) = @_;
    my %reason = (200 => 'OK', 404 => 'Not Found',
                  500 => 'Internal Server Error');
    print $c "HTTP/1.1 $status $reason{$status}\r\n"
           . "Content-Type: text/plain\r\nContent-Length: " . length($body)
           . "\r\nConnection: " . ($KEEPALIVE ? 'keep-alive' : 'close')
           . "\r\n\r\n$body";
}

while (1) {
    my $c = $server->accept or next;
    my $pid = fork;
    if (!defined $pid || $pid) {
        close $c;
        next;
    }

    close $server;
    my $head = '';
    while ($head !~ /\r?\n\r?\n/) {
        my $n = sysread($c, $head, 4096, length $head);
        last unless $n;
    }
    my ($path) = $head =~ m{^GET (\S+) HTTP/1\.[01]\r?\n};
    my $now = time;
    my $mode = mode();
    $KEEPALIVE = $mode eq 'keepalive';
    $c->autoflush(1);
    my $gen = int(($now - $START) / $opt{period});
    record({ time => $now, path => $path // '', mode => $mode,
             generation => $gen, version => ($head =~ m{ HTTP/(1\.\d)}),
             start => $START, revoked => refused_from($gen) });

    if (!defined $path) {
        respond($c, 500, 'bad request');

    } elsif ($mode eq 'timeout') {
        sleep 30;

    } elsif ($mode eq '500') {
        respond($c, 500, 'internal error');

    } elsif ($path eq $PREFIX) {
        respond($c, 200, $mode eq 'empty' ? ''
                         : $mode eq 'dotrole' ? "..\n$opt{role}\n"
                         : "$opt{role}\n");

    } elsif ($path ne $PREFIX . $opt{role} || $mode eq 'norole') {
        respond($c, 404, 'no such role');

    } elsif ($mode eq 'malformed') {
        respond($c, 200, '{"TmpSecretId": "AKID", "TmpSecretKey": ');

    } else {
        write_secrets($now);
        my $exp = $START + $gen * $opt{period} + $opt{lifetime};
        $exp = int($now) - 60 if $mode eq 'past';
        $exp = 99999999999 if $mode eq 'far';
        respond($c, 200, JSON::PP->new->canonical->encode({
            TmpSecretId => id_of($gen), TmpSecretKey => key_of($gen),
            Token => token_of($gen), ExpiredTime => $exp + 0,
            Expiration => 'whenever',
            Code => $mode eq 'code' ? 'InternalError' : 'Success' }));
    }

    sleep 10 if $KEEPALIVE;
    close $c;
    exit 0;
}
