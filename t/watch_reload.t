#!/usr/bin/perl

# Reload and quit with 100 open event streams, in two workers.  Each
# client does what EventSource does: when its stream ends without "end",
# it waits the stream's retry: and reconnects with Last-Event-ID.  The
# job changes while the clients are away; the old workers are gone within
# 2 s, and every client sees each state of the job once, in order, and
# end.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use CiJobsTest;
use IO::Select;
use IO::Socket::INET;
use JSON::PP;
use Test::More;
use Time::HiRes qw(time sleep);

my $t = CiJobsTest->new(workers => 2, http => <<'EOF');
    ci_jobs_cache_zone ci_jobs:1m;

    server {
        listen 127.0.0.1:%%PORT%% backlog=512;
        %%CREDENTIALS%%

        location /watch/ {
            ci_jobs on;
            ci_jobs_cache ci_jobs;
            ci_jobs_watch on;
            ci_jobs_watch_interval 1s;
            ci_jobs_pass http://127.0.0.1:%%EMU_plain%%;
        }
    }
EOF

my $N = 100;

# --- clients that behave as EventSource --------------------------------------

sub connect_client {
    my ($c) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1:' . $t->port)
        or die "connect: $!";
    print $s "GET $c->{path} HTTP/1.1\r\nHost: localhost\r\n"
             . "Accept: text/event-stream\r\nConnection: close\r\n"
             . (defined $c->{last_id} ? "Last-Event-ID: $c->{last_id}\r\n"
                                      : '')
             . "\r\n";
    $c->{sock} = $s;
    $c->{buf} = '';
    $c->{connects}++;
}

# a stream's bytes read so far: the events whole (chunks undone)
sub take_events {
    my ($c) = @_;
    my $r = CiJobsTest::parse_response($c->{buf});
    my $body = $r->{body};
    $body =~ s/\n\n(?:(?!\n\n).)+\z/\n\n/s;
    my @events;
    for my $block (split /\n\n/, $body) {
        my %e = map { /^(\w+): ?(.*)/ ? ($1 => $2) : () } split /\n/, $block;
        next unless %e;
        $c->{retry} = $e{retry} if defined $e{retry};
        push @events, \%e if $e{event};
    }
    return ($r->{status}, @events);
}

# runs the clients until each has seen end, or $secs are over; $during
# is called once, $at seconds in
sub run_clients {
    my ($secs, $at, $during, @clients) = @_;
    my $start = time;
    my $called;
    while (time - $start < $secs) {
        if (!$called && time - $start >= $at) {
            $called = 1;
            $during->();
        }
        my @open = grep { $_->{sock} } @clients;
        my %by = map { ("$_->{sock}" => $_) } @open;
        my $sel = IO::Select->new(map { $_->{sock} } @open);
        for my $s ($sel->can_read(0.05)) {
            my $c = $by{"$s"};
            next if sysread $s, $c->{buf}, 65536, length $c->{buf};
            # the stream ended: its events, then a reconnect after retry:
            close $s;
            $c->{sock} = undef;
            my ($status, @events) = take_events($c);
            push @{ $c->{statuses} }, $status;
            push @{ $c->{events} }, @events;
            push @{ $c->{each} }, join ' ', map {
                $_->{event} eq 'job' ? decode_json($_->{data})->{State}
                                     : $_->{event} } @events;
            $c->{first_end} //= time;
            my ($last) = grep { defined $_->{id} } reverse @events;
            $c->{last_id} = $last->{id} if $last;
            if (@events && $events[-1]{event} eq 'end') {
                $c->{done} = 1;
            } else {
                $c->{reconnect_at} = time + ($c->{retry} // 1000) / 1000;
            }
        }
        for my $c (grep { !$_->{sock} && !$_->{done} && $_->{reconnect_at}
                          && time >= $_->{reconnect_at} } @clients) {
            $c->{reconnect_at} = undef;
            connect_client($c);
        }
        last unless grep { !$_->{done} } @clients;
    }
    $called or $during->();
}

sub seen {
    my ($c) = @_;
    return join ' ', map { $_->{event} eq 'job'
                           ? decode_json($_->{data})->{State}
                           : $_->{event} } @{ $c->{events} || [] };
}

sub check_clients {
    my ($what, @clients) = @_;
    my %seen;
    $seen{ seen($_) }++ for @clients;
    is_deeply(\%seen, { 'Submitted Running Success end' => $N },
              "$what: each of the $N clients saw Submitted, Running, "
              . 'Success, end, once each');
    is(scalar(grep { $_->{connects} == 2 } @clients), $N,
       "$what: each reconnected once, with its last id");
    is(scalar(grep { join('|', @{ $_->{each} }) eq
                     'Submitted Running|Success end' } @clients), $N,
       "$what: the job finished while they were away: the reconnect is "
       . 'told Success, and only that');
    is(scalar(grep { join(' ', @{ $_->{statuses} }) eq '200 200' }
              @clients), $N, "$what: 200 both times");
}

# --- reload ------------------------------------------------------------------

# timed6x1: Submitted for a second, Running, Success 6 s after the first
# request; the reload at 5.2 s, the clients back after retry (1 s), the
# job finished in between

my @clients = map { { path => '/watch/jobs/timed6x1' } } 1 .. $N;
$t->get('/watch/jobs/timed6x1');
connect_client($_) for @clients;

my ($took, $start);
run_clients(15, 5.2, sub {
    $start = time;
    $t->reload;
    $took = time - $start;
}, @clients);
my $ended = (sort { $b <=> $a }
             map { $_->{first_end} // 1e10 } @clients)[0] - $start;

cmp_ok($took, '<', 2, sprintf 'nginx -s reload with %d streams: the old '
       . 'workers gone in %.2f s', $N, $took);
cmp_ok($ended, '<', 2, sprintf 'every stream ended within %.2f s', $ended);
check_clients('reload', @clients);

# --- quit --------------------------------------------------------------------

@clients = map { { path => '/watch/jobs/timed6x2' } } 1 .. $N;
$t->get('/watch/jobs/timed6x2');
connect_client($_) for @clients;

run_clients(15, 5.2, sub {
    $start = time;
    my $pid = delete $t->{pids}{nginx};
    kill 'QUIT', $pid;
    waitpid $pid, 0;
    $took = time - $start;
    $t->start_nginx($t->{conf});
}, @clients);

cmp_ok($took, '<', 2, sprintf 'nginx -s quit with %d streams: nginx gone '
       . 'in %.2f s', $N, $took);
check_clients('quit, then nginx again', @clients);

$t->done;
done_testing;
