#!/usr/bin/perl

# A stream whose reader does not keep up.  A job that changes every
# 100 ms with events of 32 KiB; one reader that keeps up, one that stops
# reading (a small SO_RCVBUF; nginx's listen sndbuf keeps the kernel from
# buffering megabytes for it): the slow one is cut, never buffered for
# without limit, the other goes on; the slow one resumes with its last id
# and is told the job as it is now.  The refreshes behind a long stream
# do not pile up in the worker either (ci_jobs_max_held_size 1m holds
# only a few of their bodies).

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use CiJobsTest;
use IO::Socket::INET;
use JSON::PP;
use Socket qw(SOL_SOCKET SO_RCVBUF inet_aton pack_sockaddr_in);
use Test::More;
use Time::HiRes qw(time sleep);

my $t = CiJobsTest->new(workers => 2, http => <<'EOF');
    ci_jobs_cache_zone ci_jobs:4m;
    ci_jobs_max_held_size 1m;

    server {
        listen 127.0.0.1:%%PORT%% sndbuf=32k;
        %%CREDENTIALS%%

        location /busy/ {
            ci_jobs on;
            ci_jobs_cache ci_jobs;
            ci_jobs_watch on;
            ci_jobs_watch_interval 100ms;
            ci_jobs_pass http://127.0.0.1:%%EMU_plain%%;
        }
    }
EOF

my $REQUEST = "GET /busy/jobs/busy32x1 HTTP/1.0\r\nHost: localhost\r\n"
              . "Accept: text/event-stream\r\n";

sub stream {
    my ($rcvbuf, @headers) = @_;
    my $s = IO::Socket::INET->new(Proto => 'tcp') or die "socket: $!";
    if ($rcvbuf) {
        setsockopt($s, SOL_SOCKET, SO_RCVBUF, pack('i', $rcvbuf))
            or die "SO_RCVBUF: $!";
    }
    connect($s, pack_sockaddr_in($t->port, inet_aton('127.0.0.1')))
        or die "connect: $!";
    print $s $REQUEST . join('', map { "$_\r\n" } @headers) . "\r\n";
    return $s;
}

# what each socket received in $secs or until closed; whole events only
sub read_for {
    return map { $_->{body} =~ s/\n\n(?:(?!\n\n).)+\z/\n\n/s; $_ }
               CiJobsTest::read_for(@_);
}

sub job_events {
    my ($r) = @_;
    my @events;
    for my $block (split /\n\n/, $r->{body}) {
        my %e = map { /^(\w+): ?(.*)/ ? ($1 => $2) : () } split /\n/, $block;
        push @events, \%e if ($e{event} // '') eq 'job';
    }
    return @events;
}

my $slow = stream(4096);
my $fast = stream(0);

my ($fast_got) = read_for(6, $fast);

my ($waited) = $t->error_log
               =~ /a stream's reader is too slow \((\d+) bytes wait\)/;
ok(defined $waited, 'a reader that stops reading is cut, while the job '
   . 'changes every 100 ms');
cmp_ok($waited // 1e9, '<=', 65536 + 2 * 40000, sprintf 'with %s bytes '
       . 'waiting in nginx: 64 KiB and a batch at most', $waited // '?');

my @fast_jobs = job_events($fast_got);
cmp_ok(scalar(@fast_jobs), '>=', 20, sprintf 'the reader that keeps up got '
       . '%d events of %d bytes in 6 s', scalar(@fast_jobs),
       length($fast_jobs[0]{data} // ''));
ok(!$fast_got->{closed}, 'and is not cut');
unlike($t->error_log, qr/ci_jobs_max_held_size/,
       'the refreshes behind it hold no more than their own answer each');
close $fast;

# the slow reader reads on: whole events, then the close

my ($slow_got) = read_for(10, $slow);
ok($slow_got->{closed}, 'the slow reader finds its stream closed');
my @slow_jobs = job_events($slow_got);
cmp_ok(scalar(@slow_jobs), '>=', 1, sprintf 'after %d whole events',
       scalar(@slow_jobs));
cmp_ok(scalar(@slow_jobs), '<', scalar(@fast_jobs), 'fewer than the other');
close $slow;

my $then = eval { decode_json($slow_jobs[-1]{data})->{Progress} } // '';
my ($resume) = read_for(0.5, stream(0, "Last-Event-ID: $slow_jobs[-1]{id}"));
my @resumed = job_events($resume);
cmp_ok(scalar(@resumed), '>=', 1, 'its reconnect with its last id is told '
       . 'of the job');
my $now = eval { decode_json($resumed[0]{data})->{Progress} } // '';
isnt($now, $then, "as it is now (Progress $then then, $now now)");

$t->done;
done_testing;
