#!/usr/bin/perl

# A fleet as examples/ builds it: two edges (fleet-edge.conf) hashing each
# lookup on $ci_jobs_key to one of three shields (fleet-shield.conf), five
# nginx instances in front of one CI emulator.  A crowd polling 16 running
# jobs through both edges costs CI what one node would: at most one
# request per job per ci_jobs_cache_valid_pending.  A shield killed
# mid-run moves only its own jobs, and no request fails beyond those it
# held at that moment.  A browser watching a job through an edge gets its
# events as they come.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use CiJobsTest;
use HTTP::Tiny;
use IO::Handle;
use POSIX ();
use Test::More;
use Time::HiRes qw(sleep time);

my $ci = CiJobsTest->new;
my $pass = 'http://127.0.0.1:' . $ci->emulator_port('plain');
my $creds = 'ci_jobs_secret_id ' . $CiJobsTest::SECRET_ID
          . '; ci_jobs_secret_key ' . $CiJobsTest::SECRET_KEY . ';';

my @shields = map {
    my $t = CiJobsTest->new(emulators => {});
    $t->start_nginx($t->example('fleet-shield.conf', gateway => 8080,
        pass => $pass,
        edit => sub {
            s/ci_jobs_credentials_role auto;/$creds/;
            # its jobs, in its own log
            s{access_log \S+;}{log_format fleet '\$uri \$status';
    access_log ${\ $t->dir}/access.log fleet;};
        }));
    $t;
} 1 .. 3;

my @edges = map {
    my $t = CiJobsTest->new(emulators => {});
    my @servers = map { $_->port } @shields;
    $t->start_nginx($t->example('fleet-edge.conf', pass => $pass,
        edit => sub {
            s{server 10\.0\.1\.1(\d):8080}{server 127.0.0.1:$servers[$1 - 1]}g;
        }));
    $t;
} 1 .. 2;

my @jobs = map { "jobsRunning$_" } 1 .. 16;

# The shields each job's requests reached, from their logs: job => { i => 1 }
sub owners {
    my %owner;
    for my $i (0 .. $#shields) {
        my $log = CiJobsTest::slurp($shields[$i]->dir . '/access.log');
        $owner{$1}{$i} = 1 while $log =~ m{^/ci/jobs/(\w+) 200$}mg;
    }
    return \%owner;
}

sub forget_owners {
    for my $t (@_) {
        open my $fh, '>', $t->dir . '/access.log' or die "truncate: $!";
    }
}

# a node's master and workers killed at once, as a machine dies
sub kill_node {
    my ($t) = @_;
    my @workers = $t->worker_pids;
    my $master = delete $t->{pids}{nginx};
    kill 'KILL', $master, @workers;
    waitpid $master, 0;
}

# CLIENTS processes polling every job through both edges, keeping their
# connections, for SECONDS; KILL (a code reference) runs at half time.
# Returns the count of answers by status.
sub crowd {
    my ($clients, $seconds, $kill) = @_;
    my @pids;
    pipe my $r, my $w or die "pipe: $!";

    for my $c (1 .. $clients) {
        my $pid = fork // die "fork: $!";
        if ($pid == 0) {
            close $r;
            my $http = HTTP::Tiny->new(timeout => 5, keep_alive => 1);
            my %seen;
            my $end = time + $seconds;
            for (my $n = $c; time < $end; $n++) {
                my $edge = $edges[$n % 2]->port;
                my $job = $jobs[$n % @jobs];
                my $s = $http->get("http://127.0.0.1:$edge/ci/jobs/$job")
                            ->{status};
                $seen{$s}++;
            }
            print $w join(' ', %seen), "\n";
            close $w;
            # not exit: the harness's objects are the parent's to stop
            POSIX::_exit(0);
        }
        push @pids, $pid;
    }
    close $w;

    if ($kill) {
        sleep $seconds / 2;
        $kill->();
    }

    my %status;
    while (my $line = <$r>) {
        my %seen = split ' ', $line;
        $status{$_} += $seen{$_} for keys %seen;
    }
    waitpid $_, 0 for @pids;
    return \%status;
}

# the crowd, 10 s through both edges
my $t0 = time;
my $status = crowd(8, 10);
my $elapsed = time - $t0;
my $answers = 0;
$answers += $_ for values %$status;

is(join(',', keys %$status), '200', "a crowd's $answers lookups all 200");

# ci_jobs_cache_valid_pending 1s: one request a job a second, and one more
# for a second the crowd began or ended within
my %per_job;
$per_job{ $_->{target} }++ for $ci->upstream_requests;
my $bound = int($elapsed) + 2;
my @over = grep { $per_job{"/jobs/$_"} > $bound } @jobs;
is("@over", '', "CI asked at most $bound times a job in "
                . sprintf('%.1f', $elapsed) . ' s, for the whole fleet');
my $upstream = 0;
$upstream += $_ for values %per_job;
note("$answers client lookups, $upstream upstream requests");

my $owner = owners();
is(scalar(grep { keys %{ $owner->{$_} } == 1 } @jobs), scalar @jobs,
   'each job reached one shield only');
ok(scalar(keys %{ { map { (keys %{ $owner->{$_} })[0] => 1 } @jobs } }) > 1,
   'the jobs spread over the shields');

# a shield dies mid-run: its jobs move, the others' stay
my ($victim) = keys %{ $owner->{ $jobs[0] } };
my %before = map { $_ => (keys %{ $owner->{$_} })[0] } @jobs;
my @alive = grep { $_ != $shields[$victim] } @shields;

$status = crowd(8, 6, sub {
    kill_node($shields[$victim]);
    forget_owners(@alive);
});

my $failed = 0;
$failed += $status->{$_} for grep { $_ != 200 } keys %$status;
ok($failed <= 8, "a shield killed: $failed failed lookups, no more than the"
                 . ' 8 it could hold at once')
    or diag(explain($status));

forget_owners($shields[$victim]);
$owner = owners();
my @stayed = grep { $before{$_} != $victim } @jobs;
is(scalar(grep { $owner->{$_}{ $before{$_} } && keys %{ $owner->{$_} } == 1 }
          @stayed),
   scalar @stayed, 'the other shields kept their own jobs');
my @moved = grep { $before{$_} == $victim } @jobs;
ok(@moved && !(grep { !keys %{ $owner->{$_} } } @moved),
   'the dead shield\'s jobs were answered by the others');

# a watcher through an edge: the events of a job that ends while it
# watches
my $stream = HTTP::Tiny->new(timeout => 30)->get(
    'http://127.0.0.1:' . $edges[0]->port . "/ci/jobs/timed3x$$",
    { headers => { Accept => 'text/event-stream' } });
is($stream->{status}, 200, 'a watcher through an edge');
like($stream->{content},
     qr/"State":"Running".*"State":"Success".*\nevent: end\n/s,
     '... sees the job run and end');

$_->done for @edges, @alive;
$ci->done;

done_testing;
